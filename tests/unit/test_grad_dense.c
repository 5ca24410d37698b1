/* Activations, normalisation, attention and RoPE: finite-difference
 * gradient checks on odd shapes, plus forward checks (softmax stability,
 * RoPE table against torch, sgemm attention against the naive loops,
 * dropout masks, shape errors). */
#include <cblas.h>

#include "attention_naive.h"
#include "fast_exp.h"
#include "test_util.h"


/* ---- activations ------------------------------------------------------------ */

static pd_tensor *f_silu(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_silu(ctx, x[0]);
}
static pd_tensor *f_gelu(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_gelu(ctx, x[0], false);
}
static pd_tensor *f_gelu_tanh(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_gelu(ctx, x[0], true);
}
static pd_tensor *f_swiglu(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_swiglu(ctx, x[0]);
}
static pd_tensor *f_softmax(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_softmax(ctx, x[0]);
}

static void test_activations_grad(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(3, 5, 7)}, .ndims = {3}, .n = 1};
    case_init(&c, 1);
    for (size_t i = 0; i < 105; i++) c.bufs[0][i] *= 3.0f; /* reach the curved parts */
    TU_GRADCHECK(f_silu, NULL, c.in, 1, NULL);
    TU_GRADCHECK(f_gelu, NULL, c.in, 1, NULL);
    TU_GRADCHECK(f_gelu_tanh, NULL, c.in, 1, NULL);
    TU_GRADCHECK(f_softmax, NULL, c.in, 1, NULL);
    case_free(&c);
    gc_case s = {.shapes = {SHAPE(2, 3, 10)}, .ndims = {3}, .n = 1};
    case_init(&s, 2);
    TU_GRADCHECK(f_swiglu, NULL, s.in, 1, NULL);
    case_free(&s);
}

/* GELU / SiLU forward against values of torch's F.gelu / F.silu. */
static void test_activation_values(void **state) {
    (void)state;
    pd_ctx *ctx = pd_ctx_new(0);
    float xs[4] = {-3.0f, -0.5f, 0.7f, 2.5f};
    pd_tensor *x = pd_tensor_from(ctx, xs, (int[]){4}, 1);
    pd_tensor *ge = pd_gelu(ctx, x, false), *gt = pd_gelu(ctx, x, true), *si = pd_silu(ctx, x);
    assert_non_null(ge), assert_non_null(gt), assert_non_null(si);
    /* torch 1.13: F.gelu(x), F.gelu(x, approximate='tanh'), F.silu(x) */
    const float ref_ge[4] = {-4.04986739e-03f, -1.54268786e-01f, 5.30625463e-01f, 2.48447585e+00f};
    const float ref_gt[4] = {-3.63743305e-03f, -1.54285997e-01f, 5.30570149e-01f, 2.48491573e+00f};
    const float ref_si[4] = {-1.42277613e-01f, -1.88770339e-01f, 4.67731416e-01f, 2.31035447e+00f};
    for (int i = 0; i < 4; i++) {
        assert_float_equal(ge->data[i], ref_ge[i], 2e-6f);
        assert_float_equal(gt->data[i], ref_gt[i], 2e-6f);
        assert_float_equal(si->data[i], ref_si[i], 2e-6f);
    }
    pd_ctx_free(ctx);
}

static void test_softmax_forward(void **state) {
    (void)state;
    pd_ctx *ctx = pd_ctx_new(0);
    /* (3, 4): random row, a row of huge logits, a constant row */
    float xs[12] = {0.3f, -1.2f, 2.0f, 0.1f, 1e4f, 1e4f - 1.0f, -1e4f, 0.0f, 5, 5, 5, 5};
    pd_tensor *x = pd_tensor_from(ctx, xs, (int[]){3, 4}, 2);
    pd_tensor *y = pd_softmax(ctx, x);
    assert_non_null(y);
    for (int r = 0; r < 3; r++) {
        double s = 0;
        for (int c = 0; c < 4; c++) {
            assert_true(isfinite(y->data[r * 4 + c]));
            s += y->data[r * 4 + c];
        }
        assert_float_equal(s, 1.0, 1e-6);
    }
    double e = exp(-1.0);
    assert_float_equal(y->data[4], 1.0 / (1.0 + e), 1e-6);
    assert_float_equal(y->data[5], e / (1.0 + e), 1e-6);
    assert_float_equal(y->data[6], 0.0, 1e-30);
    assert_float_equal(y->data[8], 0.25, 1e-7);
    pd_ctx_free(ctx);
}

/* Dropout under gradcheck: the rng is reseeded on every evaluation so each
 * forward draws the same mask. */
static pd_tensor *f_dropout(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    pd_ctx_set_training(ctx, true);
    pd_rng r;
    pd_rng_seed(&r, 99);
    return pd_dropout(ctx, x[0], 0.3f, &r);
}

static void test_dropout(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(4, 9)}, .ndims = {1 + 1}, .n = 1};
    case_init(&c, 3);
    TU_GRADCHECK(f_dropout, NULL, c.in, 1, NULL);
    case_free(&c);

    pd_ctx *ctx = pd_ctx_new(0);
    enum { N = 20000 };
    float *xs = malloc(N * sizeof(float));
    tu_fill(xs, N, 4);
    pd_rng r;
    pd_rng_seed(&r, 5);
    /* eval mode: identity (a copy) whatever p */
    pd_tensor *x = pd_tensor_from(ctx, xs, (int[]){N}, 1);
    pd_tensor *y = pd_dropout(ctx, x, 0.5f, &r);
    assert_non_null(y);
    assert_ptr_not_equal(y, x);
    assert_memory_equal(y->data, xs, N * sizeof(float));
    /* training, p = 0: identity too */
    pd_ctx_set_training(ctx, true);
    y = pd_dropout(ctx, x, 0.0f, NULL);
    assert_non_null(y);
    assert_memory_equal(y->data, xs, N * sizeof(float));
    /* training, p = 0.25: x / 0.75 or 0, about 75% kept, gradient = mask * scale */
    pd_ctx_reset(ctx);
    pd_ctx_set_training(ctx, true);
    x = pd_tensor_from(ctx, xs, (int[]){N}, 1);
    pd_tensor_set_requires_grad(ctx, x);
    y = pd_dropout(ctx, x, 0.25f, &r);
    assert_non_null(y);
    assert_int_equal(pd_backward(ctx, pd_sum(ctx, y)), PD_OK);
    int kept = 0;
    for (int i = 0; i < N; i++) {
        if (y->data[i] == 0.0f && xs[i] != 0.0f) {
            assert_true(x->grad[i] == 0.0f);
            continue;
        }
        kept++;
        assert_float_equal(y->data[i], xs[i] / 0.75f, 1e-6f);
        assert_float_equal(x->grad[i], 1.0f / 0.75f, 1e-6f);
    }
    double frac = (double)kept / N;
    if (fabs(frac - 0.75) > 0.02) fail_msg("kept fraction %.4f, expected 0.75", frac);
    /* the same rng state gives the same mask */
    pd_rng r1, r2;
    pd_rng_seed(&r1, 7), pd_rng_seed(&r2, 7);
    pd_tensor *a = pd_dropout(ctx, x, 0.5f, &r1), *b = pd_dropout(ctx, x, 0.5f, &r2);
    assert_memory_equal(a->data, b->data, N * sizeof(float));
    /* p = 1 drops everything */
    y = pd_dropout(ctx, x, 1.0f, &r);
    for (int i = 0; i < N; i++) assert_true(y->data[i] == 0.0f);
    /* bad p, missing rng */
    assert_null(pd_dropout(ctx, x, 1.5f, &r));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "dropout");
    pd_ctx_reset(ctx);
    pd_ctx_set_training(ctx, true);
    x = pd_tensor_from(ctx, xs, (int[]){N}, 1);
    assert_null(pd_dropout(ctx, x, 0.1f, NULL));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "rng");
    free(xs);
    pd_ctx_free(ctx);
}

/* ---- normalisation -------------------------------------------------------------- */

static pd_tensor *f_rms(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u;
    return pd_rmsnorm(ctx, x[0], n > 1 ? x[1] : NULL, 1e-6f);
}
static pd_tensor *f_ln(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u;
    return pd_layernorm(ctx, x[0], n > 1 ? x[1] : NULL, n > 2 ? x[2] : NULL, 1e-6f);
}
static pd_tensor *f_ln_bias_only(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_layernorm(ctx, x[0], NULL, x[1], 1e-5f);
}

static void test_norm_grad(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(2, 3, 7), SHAPE(7), SHAPE(7)}, .ndims = {3, 1, 1}, .n = 3};
    case_init(&c, 10);
    TU_GRADCHECK(f_rms, NULL, c.in, 2, NULL); /* with weight */
    TU_GRADCHECK(f_rms, NULL, c.in, 1, NULL); /* without */
    TU_GRADCHECK(f_ln, NULL, c.in, 3, NULL);  /* affine */
    TU_GRADCHECK(f_ln, NULL, c.in, 2, NULL);  /* weight only */
    TU_GRADCHECK(f_ln, NULL, c.in, 1, NULL);  /* non-affine */
    pd_gradcheck_input xb[2] = {c.in[0], c.in[2]};
    TU_GRADCHECK(f_ln_bias_only, NULL, xb, 2, NULL);
    case_free(&c);
}

static void test_norm_forward(void **state) {
    (void)state;
    pd_ctx *ctx = pd_ctx_new(0);
    /* Large common offset: a one-pass float variance would lose it. */
    enum { D = 9 };
    float xs[2 * D], ws[D];
    tu_fill(xs, 2 * D, 20);
    tu_fill(ws, D, 21);
    for (int i = 0; i < D; i++) xs[D + i] = 1000.0f + xs[i];
    pd_tensor *x = pd_tensor_from(ctx, xs, (int[]){2, D}, 2);
    pd_tensor *w = pd_tensor_from(ctx, ws, (int[]){D}, 1);
    pd_tensor *ln = pd_layernorm(ctx, x, NULL, NULL, 0.0f), *rms = pd_rmsnorm(ctx, x, w, 1e-6f);
    assert_non_null(ln), assert_non_null(rms);
    double m = 0, v = 0, ss = 0;
    for (int i = 0; i < D; i++) m += xs[i], ss += (double)xs[i] * xs[i];
    m /= D;
    for (int i = 0; i < D; i++) v += (xs[i] - m) * (xs[i] - m);
    v /= D;
    for (int i = 0; i < D; i++) {
        double ref = (xs[i] - m) / sqrt(v);
        assert_float_equal(ln->data[i], ref, 1e-5);
        assert_float_equal(ln->data[D + i], ref, 2e-3); /* 1000 + x rounds x in float */
        assert_float_equal(rms->data[i], xs[i] / sqrt(ss / D + 1e-6) * ws[i], 1e-6);
    }
    /* shape errors name both shapes */
    pd_tensor *w8 = pd_tensor_zeros(ctx, (int[]){8}, 1);
    assert_null(pd_rmsnorm(ctx, x, w8, 1e-6f));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(8,)");
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(2, 9)");
    pd_ctx_reset(ctx);
    x = pd_tensor_from(ctx, xs, (int[]){2, D}, 2);
    w8 = pd_tensor_zeros(ctx, (int[]){8}, 1);
    assert_null(pd_layernorm(ctx, x, NULL, w8, 1e-6f));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "layernorm: b (8,)");
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(2, 9)");
    pd_ctx_reset(ctx);
    x = pd_tensor_from(ctx, xs, (int[]){2, D}, 2);
    assert_null(pd_swiglu(ctx, x));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "swiglu: x (2, 9)");
    pd_ctx_free(ctx);
}

/* ---- attention --------------------------------------------------------------------- */

static pd_tensor *f_sdpa(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_sdpa(ctx, x[0], x[1], x[2], 1.0f / sqrtf(6.0f));
}
static pd_tensor *f_sdpa_naive(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_sdpa_naive(ctx, x[0], x[1], x[2], 1.0f / sqrtf(6.0f));
}

static void test_sdpa_grad(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(2, 3, 5, 6), SHAPE(2, 3, 7, 6), SHAPE(2, 3, 7, 6)},
                 .ndims = {4, 4, 4}, .n = 3};
    case_init(&c, 30);
    for (size_t i = 0; i < 180; i++) c.bufs[0][i] *= 2.0f; /* peakier softmax */
    TU_GRADCHECK(f_sdpa, NULL, c.in, 3, NULL);
    TU_GRADCHECK(f_sdpa_naive, NULL, c.in, 3, NULL);
    c.in[1].check = false; /* only some inputs needing grads */
    TU_GRADCHECK(f_sdpa, NULL, c.in, 3, NULL);
    case_free(&c);
}

/* Runs sdpa (fast or naive) forward + backward with a fixed output weight;
 * returns the output and leaves the input grads in g[3]. */
static void run_sdpa(bool naive, int B, int H, int N, int M, int d, float *out, float **g) {
    pd_ctx *ctx = pd_ctx_new(0);
    int qs[4] = {B, H, N, d}, ks[4] = {B, H, M, d};
    size_t nq = pd_shape_numel(qs, 4), nk = pd_shape_numel(ks, 4);
    float *buf = malloc((nq + 2 * nk + nq) * sizeof(float));
    tu_fill(buf, nq + 2 * nk + nq, 40);
    pd_tensor *q = pd_tensor_from(ctx, buf, qs, 4), *k = pd_tensor_from(ctx, buf + nq, ks, 4),
              *v = pd_tensor_from(ctx, buf + nq + nk, ks, 4),
              *r = pd_tensor_from(ctx, buf + nq + 2 * nk, qs, 4);
    pd_tensor_set_requires_grad(ctx, q);
    pd_tensor_set_requires_grad(ctx, k);
    pd_tensor_set_requires_grad(ctx, v);
    float scale = 1.0f / sqrtf((float)d);
    pd_tensor *o = naive ? pd_sdpa_naive(ctx, q, k, v, scale) : pd_sdpa(ctx, q, k, v, scale);
    assert_non_null(o);
    assert_int_equal(pd_backward(ctx, pd_sum(ctx, pd_mul(ctx, o, r))), PD_OK);
    memcpy(out, o->data, nq * sizeof(float));
    memcpy(g[0], q->grad, nq * sizeof(float));
    memcpy(g[1], k->grad, nk * sizeof(float));
    memcpy(g[2], v->grad, nk * sizeof(float));
    free(buf);
    pd_ctx_free(ctx);
}

static void assert_close(const char *what, const float *a, const float *b, size_t n, float tol) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (e > worst) worst = e;
        if (!(e <= tol)) fail_msg("%s[%zu]: %.8g vs %.8g", what, i, a[i], b[i]);
    }
    print_message("  %-24s max rel err %.3g\n", what, worst);
}

/* sgemm attention against the naive loops, serial heads (OpenBLAS threaded)
 * and parallel heads (OpenBLAS pinned to one thread), including a size where
 * the row softmax itself is split across threads. */
static void test_sdpa_vs_naive(void **state) {
    (void)state;
    const int cases[3][5] = {{2, 3, 5, 7, 6}, {1, 2, 200, 190, 8}, {3, 5, 17, 33, 16}};
    int saved = openblas_get_num_threads();
    for (int pass = 0; pass < 2; pass++) {
        openblas_set_num_threads(pass == 0 ? (saved > 1 ? saved : 2) : 1);
        for (int t = 0; t < 3; t++) {
            const int *c = cases[t];
            size_t nq = (size_t)c[0] * c[1] * c[2] * c[4], nk = (size_t)c[0] * c[1] * c[3] * c[4];
            float *o[2], *g[2][3];
            for (int f = 0; f < 2; f++) {
                o[f] = malloc(nq * sizeof(float));
                g[f][0] = malloc(nq * sizeof(float));
                g[f][1] = malloc(nk * sizeof(float));
                g[f][2] = malloc(nk * sizeof(float));
                run_sdpa(f == 1, c[0], c[1], c[2], c[3], c[4], o[f], g[f]);
            }
            assert_close("sdpa out", o[0], o[1], nq, 2e-6f);
            assert_close("sdpa dq", g[0][0], g[1][0], nq, 2e-6f);
            assert_close("sdpa dk", g[0][1], g[1][1], nk, 2e-6f);
            assert_close("sdpa dv", g[0][2], g[1][2], nk, 2e-6f);
            for (int f = 0; f < 2; f++) {
                free(o[f]);
                for (int i = 0; i < 3; i++) free(g[f][i]);
            }
        }
    }
    openblas_set_num_threads(saved);
}

/* The naive reference against a direct double-precision triple loop. */
static void test_sdpa_naive_forward(void **state) {
    (void)state;
    enum { B = 1, H = 2, N = 3, M = 4, d = 5 };
    float qs[B * H * N * d], ks[B * H * M * d], vs[B * H * M * d];
    tu_fill(qs, sizeof qs / 4, 50), tu_fill(ks, sizeof ks / 4, 51), tu_fill(vs, sizeof vs / 4, 52);
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *q = pd_tensor_from(ctx, qs, (int[]){B, H, N, d}, 4);
    pd_tensor *k = pd_tensor_from(ctx, ks, (int[]){B, H, M, d}, 4);
    pd_tensor *v = pd_tensor_from(ctx, vs, (int[]){B, H, M, d}, 4);
    pd_tensor *o = pd_sdpa_naive(ctx, q, k, v, 0.7f), *o2 = pd_sdpa(ctx, q, k, v, 0.7f);
    assert_non_null(o), assert_non_null(o2);
    for (int h = 0; h < H; h++)
        for (int i = 0; i < N; i++) {
            double s[M], mx = -1e300, z = 0;
            for (int j = 0; j < M; j++) {
                s[j] = 0;
                for (int c = 0; c < d; c++) s[j] += (double)qs[(h * N + i) * d + c] * ks[(h * M + j) * d + c];
                s[j] *= 0.7;
                mx = fmax(mx, s[j]);
            }
            for (int j = 0; j < M; j++) z += exp(s[j] - mx);
            for (int c = 0; c < d; c++) {
                double acc = 0;
                for (int j = 0; j < M; j++) acc += exp(s[j] - mx) / z * vs[(h * M + j) * d + c];
                assert_float_equal(o->data[(h * N + i) * d + c], acc, 1e-6);
                assert_float_equal(o2->data[(h * N + i) * d + c], acc, 2e-6);
            }
        }
    /* shape errors name all shapes */
    pd_tensor *k4 = pd_tensor_zeros(ctx, (int[]){B, H, M, 4}, 4);
    assert_null(pd_sdpa(ctx, q, k4, v, 1.0f));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(1, 2, 3, 5)");
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(1, 2, 4, 4)");
    pd_ctx_free(ctx);
}

/* ---- RoPE ----------------------------------------------------------------------------- */

/* torch 1.13, VisionRotaryEmbeddingFast formula with dim = hd/2 = 8,
 * pt = ft = G = 13, theta 1e4, two identity prefix rows (concatenated as in
 * JiT's in-context table): {row, pair, cos, sin}. G = 13 makes position 7
 * come out as 7.0000005 in float32 (arange(G)/G*G), which rows 48 and 93
 * exercise. */
static const struct { int row, pair; float c, s; } rope_ref[] = {
    {0, 0, 1.0f, 0.0f},
    {1, 5, 1.0f, 0.0f},
    {2, 0, 1.0f, 0.0f},
    {3, 1, 1.0f, 0.0f},
    {48, 0, -9.899924994e-01f, 1.411200017e-01f},
    {48, 3, 9.999955297e-01f, 2.999995602e-03f},
    {48, 4, 7.539019585e-01f, 6.569869518e-01f},
    {48, 6, 9.975510240e-01f, 6.994284689e-02f},
    {170, 1, 3.623577058e-01f, 9.320390821e-01f},
    {170, 5, 3.623577058e-01f, 9.320390821e-01f},
    {121, 2, 9.959527254e-01f, 8.987854421e-02f},
    {78, 7, 9.999395013e-01f, 1.099977922e-02f},
    {93, 0, 7.539019585e-01f, 6.569869518e-01f},
    {93, 1, 7.648421526e-01f, 6.442177296e-01f},
};

static void test_rope_table(void **state) {
    (void)state;
    pd_rope_table t;
    assert_int_equal(pd_rope_table_init_2d(&t, 13, 13, 16, 2, 10000.0f), PD_OK);
    assert_int_equal(t.n_pos, 2 + 169);
    assert_int_equal(t.dim, 16);
    for (size_t i = 0; i < sizeof rope_ref / sizeof rope_ref[0]; i++) {
        size_t k = (size_t)rope_ref[i].row * 8 + rope_ref[i].pair;
        /* torch's SLEEF cos/sin are within 1 ulp of libm's */
        assert_float_equal(t.cos[k], rope_ref[i].c, 1.2e-7f);
        assert_float_equal(t.sin[k], rope_ref[i].s, 1.2e-7f);
    }
    pd_rope_table_free(&t);
    assert_null(t.cos);
    /* bad arguments */
    assert_int_equal(pd_rope_table_init_2d(&t, 4, 4, 6, 0, 10000.0f), PD_ERR_ARG);
    TU_ASSERT_CONTAINS(pd_last_error(), "multiple of 4");
    pd_rope_table_free(&t); /* safe on a failed init */
}

static const pd_rope_table *g_rope;
static pd_tensor *f_rope(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_rope(ctx, x[0], g_rope);
}

static void test_rope(void **state) {
    (void)state;
    pd_rope_table t;
    /* non-square grid 3 x 4 with 2 prefix rows: 14 positions, head dim 8 */
    assert_int_equal(pd_rope_table_init_2d(&t, 3, 4, 8, 2, 100.0f), PD_OK);
    g_rope = &t;
    gc_case c = {.shapes = {SHAPE(2, 3, 14, 8)}, .ndims = {4}, .n = 1};
    case_init(&c, 60);
    TU_GRADCHECK(f_rope, NULL, c.in, 1, NULL);
    case_free(&c);
    gc_case s = {.shapes = {SHAPE(1, 2, 9, 8)}, .ndims = {4}, .n = 1}; /* fewer tokens than rows */
    case_init(&s, 61);
    TU_GRADCHECK(f_rope, NULL, s.in, 1, NULL);
    case_free(&s);

    /* forward: prefix untouched; token (i, j) pair m rotated by the row
     * (m < 2) or column angle; norms of pairs preserved */
    pd_ctx *ctx = pd_ctx_new(0);
    float xs[14 * 8];
    tu_fill(xs, 14 * 8, 62);
    pd_tensor *x = pd_tensor_from(ctx, xs, (int[]){1, 1, 14, 8}, 4);
    pd_tensor *y = pd_rope(ctx, x, &t);
    assert_non_null(y);
    assert_memory_equal(y->data, xs, 2 * 8 * sizeof(float));
    const double omega[2] = {1.0, 1.0 / 10.0}; /* 100^(-2m/4) */
    for (int n = 2; n < 14; n++) {
        int i = (n - 2) / 4, j = (n - 2) % 4;
        for (int m = 0; m < 4; m++) {
            double a = (m < 2 ? i : j) * omega[m % 2];
            double x0 = xs[n * 8 + 2 * m], x1 = xs[n * 8 + 2 * m + 1];
            assert_float_equal(y->data[n * 8 + 2 * m], x0 * cos(a) - x1 * sin(a), 1e-6);
            assert_float_equal(y->data[n * 8 + 2 * m + 1], x1 * cos(a) + x0 * sin(a), 1e-6);
        }
    }
    /* shape errors */
    pd_tensor *big = pd_tensor_zeros(ctx, (int[]){1, 1, 15, 8}, 4);
    assert_null(pd_rope(ctx, big, &t));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(1, 1, 15, 8)");
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "14 positions, dim 8");
    pd_ctx_reset(ctx);
    pd_tensor *wide = pd_tensor_zeros(ctx, (int[]){1, 1, 4, 16}, 4);
    assert_null(pd_rope(ctx, wide, &t));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(1, 1, 4, 16)");
    pd_ctx_free(ctx);
    pd_rope_table_free(&t);
}

/* The vectorisable exp used by softmax and the SiLU gate stays within
 * 2 ulp (relative 2.4e-7) of libm's expf over the range the kernels see. */
static void test_fast_exp_matches_libm(void **state) {
    (void)state;
    double worst = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.001953125f) {
        double ref = exp((double)x), got = pd_expf(x);
        double rel = fabs(got - ref) / ref;
        if (rel > worst) worst = rel;
    }
    print_message("  pd_expf worst relative error %.3g\n", worst);
    assert_true(worst < 2.4e-7);
    assert_true(pd_expf(-1000.0f) > 0.0f && pd_expf(-1000.0f) < 1e-37f);
    assert_true(isfinite(pd_expf(1000.0f)));
}

/* The vectorisable erfc behind exact GELU, relative to libm's erfc in
 * double, over z in [0, 9] (erfc(9) ~ 4e-37, the edge of normal floats):
 * the fit's 1.2e-7 plus float rounding. Relative, so GELU's negative tail
 * x Phi(x) = x erfc(-x / sqrt 2) / 2 keeps its digits. */
static void test_fast_erfc_matches_libm(void **state) {
    (void)state;
    double worst = 0, worst_cdf = 0;
    for (float z = 0.0f; z <= 9.0f; z += 0.0009765625f) {
        double ref = erfc((double)z), rel = fabs(pd_erfcf_nonneg(z) - ref) / ref;
        if (rel > worst) worst = rel;
        float x = -1.4142135623730951f * z; /* the reference takes this float x */
        double cdf = 0.5 * erfc(-(double)x / 1.4142135623730951);
        double rc = fabs(pd_normal_cdf(x) - cdf) / cdf;
        if (rc > worst_cdf) worst_cdf = rc;
    }
    print_message("  pd_erfcf_nonneg worst relative error %.3g, Phi(x < 0) %.3g\n", worst, worst_cdf);
    assert_true(worst < 1e-6);
    assert_true(worst_cdf < 1e-6);
    assert_true(fabsf(pd_normal_cdf(0.0f) - 0.5f) < 1e-7f);
    assert_true(fabsf(pd_normal_cdf(3.0f) - 0.998650102f) < 2e-7f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_exp_matches_libm),
        cmocka_unit_test(test_fast_erfc_matches_libm),
        cmocka_unit_test(test_activations_grad),
        cmocka_unit_test(test_activation_values),
        cmocka_unit_test(test_softmax_forward),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_norm_grad),
        cmocka_unit_test(test_norm_forward),
        cmocka_unit_test(test_sdpa_grad),
        cmocka_unit_test(test_sdpa_vs_naive),
        cmocka_unit_test(test_sdpa_naive_forward),
        cmocka_unit_test(test_rope_table),
        cmocka_unit_test(test_rope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
