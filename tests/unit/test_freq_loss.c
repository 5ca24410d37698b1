/* freq_loss plugin (DeCo's frequency-aware loss, deco.md section 3), loaded
 * through the plugin host from the built freq_loss.so (argument 1):
 *   - PyTorch goldens (tests/golden/freq, make_freq_goldens.py): loss and
 *     d loss / d v_pred, both implementations (fused op, composed host ops);
 *   - fused vs composed on other shapes, gradients w.r.t. v_pred and v;
 *   - the weight tables against the numbers printed in deco.md and the
 *     golden tables (freq_tables.c is compiled into this test), and the
 *     weights the .so applies, read back through DCT basis images;
 *   - q = 100: the loss is the plain MSE of the YCbCr difference (energy);
 *   - pd_gradcheck of the whole loss w.r.t. v_pred;
 *   - config and size errors. */
#include "pixeldit/plugin_host.h"
#include "pixeldit/safetensors.h"
#include "test_util.h"

#include "../../plugins/freq_loss/freq_loss.h"

static const char *g_plugin_path;

/* ---- a created loss ------------------------------------------------------- */

typedef struct loss_inst {
    pd_plugin *pl;
    pd_plugin_config *cfg;
    void *state;
    const pd_loss_vtable *vt;
} loss_inst;

static pd_model_info model_info(int image_size, int channels) {
    pd_model_info info = {sizeof(pd_model_info), image_size, channels, 4, image_size / 4,
                          (image_size / 4) * (image_size / 4), 8, 2, 4, 1, 10, 0.05f, 1.0f};
    return info;
}

static pd_plugin *load_plugin(void) {
    pd_plugin *pl = NULL;
    if (pd_plugin_load(g_plugin_path, PD_PLUGIN_LOSS, &pl) != PD_OK)
        fail_msg("loading %s: %s", g_plugin_path, pd_last_error());
    return pl;
}

static void make_loss(loss_inst *L, int quality, double gamma, const char *impl) {
    char q[32], g[32];
    snprintf(q, sizeof q, "%d", quality);
    snprintf(g, sizeof g, "%.17g", gamma);
    pd_plugin_setting set[] = {{"quality", q, "test", 1}, {"gamma", g, "test", 2}, {"impl", impl, "test", 3}};
    L->pl = load_plugin();
    if (pd_plugin_config_build(L->pl, "loss", set, 3, &L->cfg) != PD_OK)
        fail_msg("config: %s", pd_last_error());
    pd_model_info info = model_info(16, 3);
    if (pd_plugin_create_loss(L->pl, &info, L->cfg, &L->state) != PD_OK)
        fail_msg("create: %s", pd_last_error());
    L->vt = pd_plugin_loss_vtable(L->pl);
}

static void drop_loss(loss_inst *L) {
    L->vt->destroy(L->state);
    pd_plugin_config_free(L->cfg);
}

static pd_tensor *run_loss(const loss_inst *L, pd_ctx *ctx, pd_tensor *vp, pd_tensor *v,
                           pd_loss_parts *parts) {
    pd_loss_inputs in = {sizeof in, NULL, NULL, NULL, NULL, v, vp, NULL, vp ? vp->shape[0] : 0};
    return L->vt->forward(L->state, ctx, &in, parts);
}

static pd_tensor *filled(pd_ctx *ctx, const int *shape, uint64_t seed, bool grad) {
    pd_tensor *t = pd_tensor_empty(ctx, shape, 4);
    assert_non_null(t);
    tu_fill(t->data, t->numel, seed);
    if (grad) assert_int_equal(pd_tensor_set_requires_grad(ctx, t), PD_OK);
    return t;
}

/* max |a - b| / max |b| (b the reference) */
static double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]), m = fabs((double)b[i]);
        if (e > num) num = e;
        if (m > den) den = m;
    }
    return den > 0 ? num / den : num;
}

static double scalar_rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-30); }

static const char *const impls[] = {"fused", "composed"};

/* ---- goldens -------------------------------------------------------------- */

static const char *const golden_cases[] = {
    "rgb_16x16_q85", "rgb_12x20_q50", "rgb_13x10_q85", "gray_16x16_q85", "gray_13x10_q30_g0.5",
};

static pd_tensor *load_f32(pd_ctx *ctx, pd_st_file *f, const char *name) {
    const pd_st_tensor *t = pd_st_find(f, name);
    if (!t) fail_msg("%s: tensor '%s' missing", pd_st_path(f), name);
    pd_tensor *x = pd_tensor_empty(ctx, t->shape, t->ndim);
    assert_non_null(x);
    if (pd_st_read_f32(f, name, x->data, t->shape, t->ndim)) fail_msg("%s", pd_last_error());
    return x;
}

static void test_goldens(void **unused) {
    (void)unused;
    const char *dir = getenv("PIXELDIT_TEST_DIR");
    if (!dir) fail_msg("PIXELDIT_TEST_DIR is not set (run through meson test)");
    for (size_t c = 0; c < sizeof golden_cases / sizeof *golden_cases; c++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/golden/freq/%s.safetensors", dir, golden_cases[c]);
        pd_st_file *f;
        if (pd_st_open(path, &f)) fail_msg("%s", pd_last_error());
        int quality = atoi(pd_st_metadata(f, "quality"));
        double gamma = strtod(pd_st_metadata(f, "gamma"), NULL);
        for (int k = 0; k < 2; k++) {
            loss_inst L;
            make_loss(&L, quality, gamma, impls[k]);
            pd_ctx *ctx = pd_ctx_new(4 << 20);
            pd_tensor *vp = load_f32(ctx, f, "v_pred"), *v = load_f32(ctx, f, "v");
            pd_tensor *want = load_f32(ctx, f, "loss"), *want_g = load_f32(ctx, f, "grad.v_pred");
            assert_int_equal(pd_tensor_set_requires_grad(ctx, vp), PD_OK);
            pd_loss_parts parts = {0};
            pd_tensor *loss = run_loss(&L, ctx, vp, v, &parts);
            if (!loss) fail_msg("%s %s: %s", golden_cases[c], impls[k], pd_ctx_error(ctx));
            assert_int_equal(loss->numel, 1);
            assert_int_equal(parts.n, 1);
            assert_string_equal(parts.name[0], "freq");
            assert_true(parts.value[0] == loss->data[0]);
            if (pd_backward(ctx, loss)) fail_msg("%s", pd_ctx_error(ctx));
            double el = scalar_rel(loss->data[0], want->data[0]);
            double eg = rel_err(vp->grad, want_g->data, vp->numel);
            print_message("  %-22s %-8s loss %.7g (torch %.7g) rel %.2e, grad rel %.2e\n",
                          golden_cases[c], impls[k], (double)loss->data[0], (double)want->data[0], el, eg);
            if (el > 1e-6 || eg > 1e-5)
                fail_msg("%s %s: loss rel err %.3g (tol 1e-6), grad rel err %.3g (tol 1e-5)",
                         golden_cases[c], impls[k], el, eg);
            pd_ctx_free(ctx);
            drop_loss(&L);
        }
        pd_st_close(f);
    }
}

/* ---- fused vs composed ---------------------------------------------------- */

static void compare_impls(const int *shape, int quality, double gamma) {
    loss_inst L[2];
    pd_ctx *ctx[2];
    pd_tensor *vp[2], *v[2], *loss[2];
    for (int k = 0; k < 2; k++) {
        make_loss(&L[k], quality, gamma, impls[k]);
        ctx[k] = pd_ctx_new(4 << 20);
        vp[k] = filled(ctx[k], shape, 11, true);
        v[k] = filled(ctx[k], shape, 12, true); /* also exercises d loss / d v */
        loss[k] = run_loss(&L[k], ctx[k], vp[k], v[k], NULL);
        if (!loss[k]) fail_msg("%s: %s", impls[k], pd_ctx_error(ctx[k]));
        if (pd_backward(ctx[k], loss[k])) fail_msg("%s", pd_ctx_error(ctx[k]));
    }
    size_t n = vp[0]->numel;
    double el = scalar_rel(loss[0]->data[0], loss[1]->data[0]);
    double egp = rel_err(vp[0]->grad, vp[1]->grad, n), egv = rel_err(v[0]->grad, v[1]->grad, n);
    print_message("  (%d,%d,%d,%d) q%d g%.1f: fused %.7g composed %.7g rel %.2e; grad v_pred %.2e, v %.2e\n",
                  shape[0], shape[1], shape[2], shape[3], quality, gamma, (double)loss[0]->data[0],
                  (double)loss[1]->data[0], el, egp, egv);
    if (el > 1e-6 || egp > 1e-5 || egv > 1e-5)
        fail_msg("fused vs composed: loss %.3g, grad v_pred %.3g, grad v %.3g", el, egp, egv);
    for (size_t i = 0; i < n; i++) /* linearity: d/dv = -d/dv_pred exactly */
        if (vp[0]->grad[i] != -v[0]->grad[i]) fail_msg("fused: grad v[%zu] != -grad v_pred", i);

    /* no-grad mode (as in evaluation): same value, nothing recorded */
    pd_ctx *c = pd_ctx_new(4 << 20);
    pd_ctx_set_grad_enabled(c, false);
    pd_tensor *l = run_loss(&L[0], c, filled(c, shape, 11, false), filled(c, shape, 12, false), NULL);
    if (!l) fail_msg("no-grad: %s", pd_ctx_error(c));
    if (l->data[0] != loss[0]->data[0]) fail_msg("no-grad value %.9g != %.9g", (double)l->data[0],
                                                 (double)loss[0]->data[0]);
    pd_ctx_free(c);
    for (int k = 0; k < 2; k++) {
        pd_ctx_free(ctx[k]);
        drop_loss(&L[k]);
    }
}

static void test_fused_vs_composed(void **unused) {
    (void)unused;
    compare_impls((int[]){2, 3, 21, 19}, 85, 1.0);
    compare_impls((int[]){4, 1, 32, 32}, 85, 1.0);  /* the small preset's images */
    compare_impls((int[]){1, 3, 8, 5}, 30, 2.0);
    compare_impls((int[]){2, 1, 5, 13}, 100, 1.0);
}

/* ---- tables ---------------------------------------------------------------- */

/* deco.md section 3, q = 85 */
static const int spec_qy85[64] = {
    5,  3,  3,  5,  7,  12, 15, 18, 4,  4,  4,  6,  8,  17, 18, 17, 4,  4,  5,  7,  12, 17,
    21, 17, 4,  5,  7,  9,  15, 26, 24, 19, 5,  7,  11, 17, 20, 33, 31, 23, 7,  11, 17, 19,
    24, 31, 34, 28, 15, 19, 23, 26, 31, 36, 36, 30, 22, 28, 29, 29, 34, 30, 31, 30,
};
static const int spec_qc85_top[4][4] = {{5, 5, 7, 14}, {5, 6, 8, 20}, {7, 8, 17, 30}, {14, 20, 30, 30}};
static const double spec_wy85_row0[8] = {2.0130, 3.3551, 3.3551, 2.0130, 1.4379, 0.8388, 0.6710, 0.5592};
static const double spec_wy85_row7[8] = {0.4575, 0.3595, 0.3471, 0.3471, 0.2960, 0.3355, 0.3247, 0.3355};

static void minmax(const double *x, double *lo, double *hi) {
    *lo = *hi = x[0];
    for (int i = 1; i < 64; i++) *lo = fmin(*lo, x[i]), *hi = fmax(*hi, x[i]);
}

static double mean64(const double *x) {
    double s = 0;
    for (int i = 0; i < 64; i++) s += x[i];
    return s / 64;
}

#define NEAR4(got, want, what, i)                                                            \
    do {                                                                                     \
        if (fabs((got) - (want)) > 5.1e-5)                                                   \
            fail_msg("%s[%d] = %.6f, deco.md prints %.4f", (what), (i), (got), (want));      \
    } while (0)

static void test_tables_spec(void **unused) {
    (void)unused;
    double qy[64], qc[64], wy[64], wc[64], lo, hi;
    freq_quant_table(freq_jpeg_luma, 85, qy);
    freq_quant_table(freq_jpeg_chroma, 85, qc);
    freq_weights(qy, 1.0, wy);
    freq_weights(qc, 1.0, wc);
    for (int i = 0; i < 64; i++)
        if (qy[i] != spec_qy85[i]) fail_msg("Q_y[%d] = %g, deco.md: %d", i, qy[i], spec_qy85[i]);
    for (int u = 0; u < 8; u++)
        for (int v = 0; v < 8; v++) {
            int want = u < 4 && v < 4 ? spec_qc85_top[u][v] : 30;
            if (qc[u * 8 + v] != want) fail_msg("Q_c[%d][%d] = %g, deco.md: %d", u, v, qc[u * 8 + v], want);
        }
    if (fabs(mean64(qy) - 17.328) > 5e-4) fail_msg("mean Q_y %.5f, deco.md 17.328", mean64(qy));
    if (fabs(mean64(qc) - 26.031) > 5e-4) fail_msg("mean Q_c %.5f, deco.md 26.031", mean64(qc));
    for (int v = 0; v < 8; v++) {
        NEAR4(wy[v], spec_wy85_row0[v], "w_y row0", v);
        NEAR4(wy[56 + v], spec_wy85_row7[v], "w_y row7", v);
    }
    minmax(wy, &lo, &hi);
    NEAR4(lo, 0.2796, "min w_y", 0);
    NEAR4(hi, 3.3551, "max w_y", 0);
    NEAR4(wc[0], 3.8740, "w_c DC", 0);
    for (int i = 0; i < 64; i++)
        if (qc[i] == 30) NEAR4(wc[i], 0.6457, "w_c at Q=30", i);
    minmax(wc, &lo, &hi);
    NEAR4(lo, 0.6457, "min w_c", 0);
    NEAR4(hi, 3.8740, "max w_c", 0);
    /* q = 100: every Q is 1, so w is 1 everywhere; q = 50: Q is the base table */
    double q100[64], w100[64], q50[64];
    for (int t = 0; t < 2; t++) {
        const int *base = t ? freq_jpeg_chroma : freq_jpeg_luma;
        freq_quant_table(base, 100, q100);
        freq_weights(q100, 1.0, w100);
        freq_quant_table(base, 50, q50);
        for (int i = 0; i < 64; i++) {
            if (q100[i] != 1 || fabs(w100[i] - 1) > 1e-15) fail_msg("q100: Q %g w %.17g", q100[i], w100[i]);
            if (q50[i] != base[i]) fail_msg("q50: Q[%d] = %g, base %d", i, q50[i], base[i]);
        }
    }
    /* gamma 0: uniform weights whatever the table */
    freq_weights(qy, 0.0, wy);
    for (int i = 0; i < 64; i++)
        if (fabs(wy[i] - 1) > 1e-15) fail_msg("gamma 0: w_y[%d] = %.17g", i, wy[i]);
}

static void test_tables_golden(void **unused) {
    (void)unused;
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/freq/tables.safetensors", getenv("PIXELDIT_TEST_DIR"));
    pd_st_file *f;
    if (pd_st_open(path, &f)) fail_msg("%s", pd_last_error());
    const int qs[3] = {50, 85, 100};
    for (int i = 0; i < 3; i++)
        for (int t = 0; t < 2; t++) {
            double Q[64], w[64];
            freq_quant_table(t ? freq_jpeg_chroma : freq_jpeg_luma, qs[i], Q);
            freq_weights(Q, 1.0, w);
            char nq[32], nw[32];
            snprintf(nq, sizeof nq, "Q_%c_q%d", t ? 'c' : 'y', qs[i]);
            snprintf(nw, sizeof nw, "w_%c_q%d", t ? 'c' : 'y', qs[i]);
            const pd_st_tensor *gq = pd_st_find(f, nq), *gw = pd_st_find(f, nw);
            if (!gq || !gw || gq->dtype != PD_ST_F64 || gw->dtype != PD_ST_F64 || gq->numel != 64 ||
                gw->numel != 64)
                fail_msg("%s: %s / %s missing or not (8, 8) F64", path, nq, nw);
            const double *tq = gq->data, *tw = gw->data;
            for (int j = 0; j < 64; j++) {
                if (Q[j] != tq[j]) fail_msg("%s[%d] = %g, torch %g", nq, j, Q[j], tq[j]);
                if (fabs(w[j] - tw[j]) > 1e-12 * fabs(tw[j]))
                    fail_msg("%s[%d] = %.17g, torch %.17g", nw, j, w[j], tw[j]);
            }
        }
    pd_st_close(f);
}

/* The weights the .so applies: d = one DCT basis image in one 8x8 block and
 * one transformed channel k gives loss = w_k[u][v] / (C * 64). For RGB the
 * basis is mapped back through the inverse YCbCr matrix. */
static void inverse3(const double m[3][3], double inv[3][3]) {
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                 m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
            inv[i][j] = (m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0]) / det;
        }
}

static void test_weights_through_plugin(void **unused) {
    (void)unused;
    double Q[64], w[2][64], C[64], minv[3][3];
    for (int t = 0; t < 2; t++) {
        freq_quant_table(t ? freq_jpeg_chroma : freq_jpeg_luma, 85, Q);
        freq_weights(Q, 1.0, w[t]);
    }
    freq_dct_matrix(C);
    inverse3(freq_ycbcr, minv);
    loss_inst L;
    make_loss(&L, 85, 1.0, "fused");
    double worst = 0;
    /* (channels, transformed channel): gray Y, RGB Y, RGB Cb, RGB Cr */
    const int probes[4][2] = {{1, 0}, {3, 0}, {3, 1}, {3, 2}};
    pd_ctx *ctx = pd_ctx_new(1 << 20);
    for (int p = 0; p < 4; p++) {
        int nc = probes[p][0], k = probes[p][1];
        for (int uv = 0; uv < 64; uv++) {
            pd_ctx_reset(ctx);
            int shape[4] = {1, nc, 8, 8};
            pd_tensor *vp = pd_tensor_zeros(ctx, shape, 4), *v = pd_tensor_zeros(ctx, shape, 4);
            for (int m = 0; m < 8; m++)
                for (int n = 0; n < 8; n++) {
                    double basis = C[(uv / 8) * 8 + m] * C[(uv % 8) * 8 + n];
                    for (int ch = 0; ch < nc; ch++)
                        vp->data[ch * 64 + m * 8 + n] = (float)(nc == 1 ? basis : minv[ch][k] * basis);
                }
            pd_tensor *loss = run_loss(&L, ctx, vp, v, NULL);
            if (!loss) fail_msg("%s", pd_ctx_error(ctx));
            double got = loss->data[0] * nc * 64.0, want = w[k == 0 ? 0 : 1][uv];
            worst = fmax(worst, scalar_rel(got, want));
            if (scalar_rel(got, want) > 2e-6)
                fail_msg("C=%d channel %d coefficient (%d,%d): weight %.7f applied, table %.7f", nc, k,
                         uv / 8, uv % 8, got, want);
        }
    }
    pd_ctx_free(ctx);
    print_message("  weights read back through the plugin: worst rel err %.2e\n", worst);
    drop_loss(&L);
}

/* ---- q = 100: orthonormal DCT keeps the energy ------------------------------ */

/* mean over (B, C, Hp, Wp) of the reflect-padded YCbCr difference squared,
 * in double, written without the plugin's helpers */
static double padded_ycc_mse(const pd_tensor *vp, const pd_tensor *v) {
    int B = vp->shape[0], C = vp->shape[1], H = vp->shape[2], W = vp->shape[3];
    int Hp = (H + 7) & ~7, Wp = (W + 7) & ~7;
    double sum = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < Hp; i++)
            for (int j = 0; j < Wp; j++) {
                int r = i >= H ? (H - 1) - (i - (H - 1)) : i, c = j >= W ? (W - 1) - (j - (W - 1)) : j;
                double d[3];
                for (int ch = 0; ch < C; ch++) {
                    size_t o = (((size_t)b * C + ch) * H + r) * W + c;
                    d[ch] = (double)vp->data[o] - v->data[o];
                }
                for (int k = 0; k < C; k++) {
                    double y = C == 1 ? d[0]
                                      : freq_ycbcr[k][0] * d[0] + freq_ycbcr[k][1] * d[1] +
                                            freq_ycbcr[k][2] * d[2];
                    sum += y * y;
                }
            }
    return sum / ((double)B * C * Hp * Wp);
}

static void test_q100_is_mse(void **unused) {
    (void)unused;
    const int shapes[3][4] = {{2, 3, 16, 16}, {2, 3, 13, 10}, {3, 1, 12, 20}};
    for (int k = 0; k < 2; k++) {
        loss_inst L;
        make_loss(&L, 100, 1.0, impls[k]);
        for (int s = 0; s < 3; s++) {
            pd_ctx *ctx = pd_ctx_new(4 << 20);
            pd_tensor *vp = filled(ctx, shapes[s], 21, false), *v = filled(ctx, shapes[s], 22, false);
            pd_tensor *loss = run_loss(&L, ctx, vp, v, NULL);
            if (!loss) fail_msg("%s", pd_ctx_error(ctx));
            double want = padded_ycc_mse(vp, v), e = scalar_rel(loss->data[0], want);
            print_message("  q100 %-8s (%d,%d,%d,%d): %.7g vs MSE %.7g, rel %.2e\n", impls[k], shapes[s][0],
                          shapes[s][1], shapes[s][2], shapes[s][3], (double)loss->data[0], want, e);
            if (e > 1e-6) fail_msg("q=100 loss %.9g != YCbCr MSE %.9g (rel %.3g)", (double)loss->data[0], want, e);
            pd_ctx_free(ctx);
        }
        drop_loss(&L);
    }
}

/* ---- gradcheck -------------------------------------------------------------- */

static pd_tensor *loss_of_vpred(pd_ctx *ctx, pd_tensor *const *inputs, int n, void *user) {
    (void)n;
    return run_loss(user, ctx, inputs[0], inputs[1], NULL);
}

static void test_gradcheck(void **unused) {
    (void)unused;
    const int shapes[2][4] = {{2, 3, 13, 10}, {2, 1, 9, 16}};
    for (int k = 0; k < 2; k++)
        for (int s = 0; s < 2; s++) {
            loss_inst L;
            make_loss(&L, s ? 30 : 85, s ? 0.5 : 1.0, impls[k]);
            size_t n = pd_shape_numel(shapes[s], 4);
            float *vp = malloc(n * sizeof *vp), *v = malloc(n * sizeof *v);
            tu_fill(vp, n, 31);
            tu_fill(v, n, 32);
            pd_gradcheck_input in[2] = {{vp, shapes[s], 4, true}, {v, shapes[s], 4, false}};
            pd_gradcheck_opts o = pd_gradcheck_defaults();
            o.eps = 1e-2;   /* the loss is quadratic: central differences are exact but for rounding */
            o.atol = 1e-5;  /* gradient entries are ~1e-3 (mean over ~1e3 coefficients) */
            o.max_checks = -1;
            print_message("  %s (%d,%d,%d,%d)\n", impls[k], shapes[s][0], shapes[s][1], shapes[s][2],
                          shapes[s][3]);
            TU_GRADCHECK(loss_of_vpred, &L, in, 2, &o);
            free(vp);
            free(v);
            drop_loss(&L);
        }
}

/* ---- errors ----------------------------------------------------------------- */

static void config_refused(const char *key, const char *value, const char *part) {
    pd_plugin_setting set = {key, value, "freq.ini", 7};
    pd_plugin_config *cfg = (pd_plugin_config *)1;
    pd_status s = pd_plugin_config_build(load_plugin(), "loss", &set, 1, &cfg);
    if (s != PD_ERR_CONFIG)
        fail_msg("%s = %s: expected PD_ERR_CONFIG, got %s", key, value, pd_status_name(s));
    assert_null(cfg);
    const char *msg = pd_last_error();
    print_message("  %s = %s -> %s\n", key, value, msg);
    TU_ASSERT_CONTAINS(msg, "freq.ini:7");
    TU_ASSERT_CONTAINS(msg, key);
    TU_ASSERT_CONTAINS(msg, part);
}

static void create_refused(int image_size, int channels, const char *part) {
    pd_model_info info = model_info(image_size, channels);
    void *state = (void *)1;
    pd_status s = pd_plugin_create_loss(load_plugin(), &info, NULL, &state);
    if (s == PD_OK) fail_msg("image %d, %d channels: create accepted it", image_size, channels);
    const char *msg = pd_last_error();
    print_message("  image %d, C %d -> %s\n", image_size, channels, msg);
    TU_ASSERT_CONTAINS(msg, "freq_loss");
    TU_ASSERT_CONTAINS(msg, part);
}

static void test_errors(void **unused) {
    (void)unused;
    config_refused("quality", "0", "out of range 1..100");
    config_refused("quality", "101", "out of range 1..100");
    config_refused("gamma", "-0.5", "out of range 0..");
    config_refused("impl", "fast", "fused|composed");
    for (int n = 1; n <= 4; n++) {
        char part[32];
        snprintf(part, sizeof part, "image size %d ", n);
        create_refused(n, 3, part);
    }
    create_refused(16, 2, "2 channels");
    /* sides 5.. work, 8 needs no padding */
    for (int n = 5; n <= 17; n++) {
        pd_model_info info = model_info(n, 1);
        void *state = NULL;
        if (pd_plugin_create_loss(load_plugin(), &info, NULL, &state)) fail_msg("size %d: %s", n, pd_last_error());
        pd_plugin_loss_vtable(load_plugin())->destroy(state);
    }
    /* a batch the created loss cannot block: refused in forward, naming it */
    loss_inst L;
    make_loss(&L, 85, 1.0, "fused");
    pd_ctx *ctx = pd_ctx_new(4 << 20);
    pd_tensor *loss = run_loss(&L, ctx, filled(ctx, (int[]){1, 3, 4, 12}, 1, false),
                               filled(ctx, (int[]){1, 3, 4, 12}, 2, false), NULL);
    assert_null(loss);
    print_message("  (1,3,4,12) -> %s\n", pd_ctx_error(ctx));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "4x12");
    pd_ctx_reset(ctx);
    loss = run_loss(&L, ctx, filled(ctx, (int[]){1, 2, 8, 8}, 1, false), filled(ctx, (int[]){1, 2, 8, 8}, 2, false),
                    NULL);
    assert_null(loss);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "2 channels");
    pd_ctx_free(ctx);
    drop_loss(&L);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s path/to/freq_loss.so\n", argv[0]);
        return 2;
    }
    g_plugin_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_spec),
        cmocka_unit_test(test_tables_golden),
        cmocka_unit_test(test_goldens),
        cmocka_unit_test(test_fused_vs_composed),
        cmocka_unit_test(test_weights_through_plugin),
        cmocka_unit_test(test_q100_is_mse),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_errors),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    pd_plugins_unload_all();
    return failed;
}
