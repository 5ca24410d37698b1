/* Whole-model PyTorch parity of JiT (goldens from tests/golden/
 * make_jit_goldens.py, reference model tests/golden/jit_reference.py, which
 * matches the upstream model_jit.py / denoiser.py bit for bit on CPU).
 *
 * The model is built the way `pixeldit train` builds it: a pd_session from
 * a pd_config, so the built-in plugins (jit_final_layer, sdpa, v_loss) come
 * through the plugin loader, and the loss is pd_session_loss, the trainer's
 * own (v = (x - z) / max(1 - t, t_eps) as a constant, v_pred = (x_pred - z)
 * times the same per-sample scale, then the v_loss plugin's mse).
 *
 * Errors are measured as max |c - t| / max |t| over a whole tensor (the
 * worst deviation relative to the tensor's own scale), with tolerances:
 *   tables (sin-cos, t features, RoPE)  1e-6 absolute: libm vs numpy /
 *       SLEEF differ by at most an ulp or two of values in [-1, 1].
 *   x_pred, loss                     1e-5: fp32 with different summation
 *       orders (OpenBLAS vs MKL-less torch CPU GEMMs) through 2-3 blocks.
 *   parameter gradients              1e-4: the backward pass sums over
 *       batch and tokens in other orders, and the t = 0.97 sample's loss
 *       weight 1/0.05^2 = 400 scales every rounding difference with it.
 *   sampler outputs                  5e-5: 3 to 9 network evaluations,
 *       each difference multiplied by dt / max(1 - t, t_eps) and by the
 *       CFG scale 2 before it feeds the next evaluation (seen: <= 6.1e-6).
 */
#include "test_util.h"
#include "pixeldit/checkpoint.h"
#include "pixeldit/safetensors.h"
#include "pixeldit/session.h"

#define TOL_TABLE 1e-6
#define TOL_FORWARD 1e-5
#define TOL_GRAD 1e-4
#define TOL_SAMPLE 5e-5

/* Trainable parameter counts of the upstream code (jit.md 1.1), counted
 * with tests/golden/jit_reference.py (`/usr/bin/python3 jit_reference.py`
 * prints them; the reference matches model_jit.py's state_dict). The
 * frozen pos_embed (256 x 768) comes on top. */
#define JIT_B16_TRAINABLE 131123712
#define JIT_B32_TRAINABLE 133190400
#define JIT_B_POS_EMBED (256 * 768)

/* ---- golden files -------------------------------------------------------------- */

static pd_st_file *open_golden(const char *file) {
    const char *dir = getenv("PIXELDIT_TEST_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/jit/%s", dir ? dir : "tests", file);
    pd_st_file *f = NULL;
    if (pd_st_open(path, &f)) fail_msg("%s (PIXELDIT_TEST_DIR = %s)", pd_last_error(), dir ? dir : "unset");
    return f;
}

static const char *meta(const pd_st_file *f, const char *key) {
    const char *v = pd_st_metadata(f, key);
    if (!v) fail_msg("%s: metadata '%s' missing", pd_st_path(f), key);
    return v;
}

/* A float tensor of the golden, checked against the expected shape; malloc'd. */
static float *read_f32(const pd_st_file *f, const char *name, const int *shape, int ndim) {
    size_t n = pd_shape_numel(shape, ndim);
    float *buf = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(buf);
    if (pd_st_read_f32(f, name, buf, shape, ndim)) fail_msg("%s", pd_last_error());
    return buf;
}

/* Labels are stored as torch's int64. */
static void read_labels(const pd_st_file *f, const char *name, int *out, int n) {
    const pd_st_tensor *t = pd_st_find(f, name);
    if (!t || t->dtype != PD_ST_I64 || t->numel != (size_t)n)
        fail_msg("%s: '%s' must be I64 with %d values", pd_st_path(f), name, n);
    const int64_t *v = t->data;
    for (int i = 0; i < n; i++) out[i] = (int)v[i];
}


/* ---- the model, built as the trainer builds it ---------------------------------- */

static const char *const model_keys[] = {"image_size", "channels", "patch_size", "hidden_size",
                                         "depth", "num_heads", "bottleneck_dim", "mlp_ratio",
                                         "in_context_len", "in_context_start", "num_classes"};

/* Default config (plugins jit_final_layer, v_loss, sdpa) with the golden's
 * [model] keys and t_eps. */
static void open_session(const pd_st_file *f, pd_session *s) {
    pd_config cfg;
    pd_config_defaults(&cfg);
    char set[160];
    for (size_t i = 0; i < sizeof model_keys / sizeof *model_keys; i++) {
        snprintf(set, sizeof set, "model.%s=%s", model_keys[i], meta(f, model_keys[i]));
        if (pd_config_set(&cfg, set)) fail_msg("%s: %s", set, pd_last_error());
    }
    snprintf(set, sizeof set, "diffusion.t_eps=%s", meta(f, "t_eps"));
    if (pd_config_set(&cfg, set)) fail_msg("%s: %s", set, pd_last_error());
    if (pd_session_open(s, &cfg)) fail_msg("session: %s", pd_last_error());
}

/* Session + strictly loaded golden weights (exactly the official names). */
static void open_model(const char *case_name, pd_session *s) {
    char file[128];
    snprintf(file, sizeof file, "%s.weights.safetensors", case_name);
    pd_st_file *w = open_golden(file);
    open_session(w, s);
    if (pd_checkpoint_load_params(w, pd_jit_params(s->model), "")) fail_msg("%s", pd_last_error());
    pd_st_close(w);
}

static void image_shape(const pd_jit_config *c, int B, int shape[4]) {
    shape[0] = B, shape[1] = c->channels, shape[2] = c->image_size, shape[3] = c->image_size;
}

/* ---- fixed tables ------------------------------------------------------------------- */

static void tables_match_torch(void **state) {
    (void)state;
    pd_st_file *f = open_golden("tables.safetensors");

    /* sin-cos pos_embed, grid 16 (JiT's), D 64: float64 numpy cast to f32 */
    float *want = read_f32(f, "pos_embed.g16_d64", (int[]){256, 64}, 2);
    float *got = malloc(256 * 64 * sizeof(float));
    pd_jit_sincos_pos_embed(got, 16, 64);
    double e1 = expect_close("sin-cos pos_embed g16 d64", got, want, 256 * 64, TOL_TABLE);
    free(want), free(got);

    /* timestep features (B, 256): cos then sin, float32 math */
    float *t = read_f32(f, "t", (int[]){8}, 1);
    want = read_f32(f, "t_features", (int[]){8, 256}, 2);
    got = malloc(8 * 256 * sizeof(float));
    pd_jit_timestep_features(got, t, 8);
    double e2 = expect_close("timestep features", got, want, 8 * 256, TOL_TABLE);
    free(t), free(want), free(got);

    /* RoPE at JiT-B sizes (head_dim 64, grid 16) with 2 identity rows */
    pd_rope_table tab;
    if (pd_rope_table_init_2d(&tab, 16, 16, 64, 2, 10000.0f)) fail_msg("%s", pd_last_error());
    assert_int_equal(tab.n_pos, 258);
    want = read_f32(f, "rope.g16_hd64_p2.cos", (int[]){258, 32}, 2);
    double e3 = expect_close("rope cos", tab.cos, want, 258 * 32, TOL_TABLE);
    free(want);
    want = read_f32(f, "rope.g16_hd64_p2.sin", (int[]){258, 32}, 2);
    double e4 = expect_close("rope sin", tab.sin, want, 258 * 32, TOL_TABLE);
    free(want);
    pd_rope_table_free(&tab);
    print_message("  pos_embed %.2g, t features %.2g, rope cos %.2g sin %.2g\n", e1, e2, e3, e4);
    pd_st_close(f);
}

/* The golden weights' pos_embed is torch's own (grid 4, D 24 / 32); C's
 * init must write the same values. */
static void init_pos_embed_matches_torch(void **state) {
    (void)state;
    const char *cases[] = {"jit_c3", "jit_c1"};
    for (int c = 0; c < 2; c++) {
        char file[128];
        snprintf(file, sizeof file, "%s.weights.safetensors", cases[c]);
        pd_st_file *w = open_golden(file);
        pd_session s;
        open_session(w, &s);
        assert_int_equal(pd_jit_init_weights(s.model, 7), PD_OK);
        pd_tensor *pe = pd_params_find(pd_jit_params(s.model), "pos_embed");
        assert_non_null(pe);
        float *want = read_f32(w, "pos_embed", pe->shape, pe->ndim);
        expect_close("init pos_embed", pe->data, want, pe->numel, TOL_TABLE);
        free(want);
        pd_session_close(&s);
        pd_st_close(w);
    }
}

/* ---- structure ---------------------------------------------------------------------- */

static void param_counts_match_upstream(void **state) {
    (void)state;
    const char *presets[] = {"JiT-B/16", "JiT-B/32"};
    const size_t trainable[] = {JIT_B16_TRAINABLE, JIT_B32_TRAINABLE};
    for (int i = 0; i < 2; i++) {
        pd_config cfg;
        pd_config_defaults(&cfg);
        if (pd_config_apply_preset(&cfg, presets[i])) fail_msg("%s", pd_last_error());
        pd_session s;
        if (pd_session_open(&s, &cfg)) fail_msg("%s: %s", presets[i], pd_last_error());
        pd_params *p = pd_jit_params(s.model);
        print_message("  %s: %zu trainable, %d tensors\n", presets[i], pd_params_numel(p, true),
                      pd_params_count(p));
        assert_int_equal(pd_params_numel(p, true), trainable[i]);
        assert_int_equal(pd_params_numel(p, false), trainable[i] + JIT_B_POS_EMBED);
        assert_int_equal(pd_params_count(p), 183); /* the upstream state_dict, jit.md 1.11 */
        pd_session_close(&s);
    }
}

/* jit.md 1.10: adaLN and the final layer start at zero, so a fresh model
 * predicts exactly 0 whatever the input. */
static void fresh_model_outputs_zero(void **state) {
    (void)state;
    pd_st_file *w = open_golden("jit_c3.weights.safetensors");
    pd_session s;
    open_session(w, &s);
    pd_st_close(w);
    assert_int_equal(pd_jit_init_weights(s.model, 123), PD_OK);
    const pd_jit_config *c = pd_jit_get_config(s.model);
    int shape[4];
    image_shape(c, 2, shape);
    size_t n = pd_shape_numel(shape, 4);
    float *z = malloc(n * sizeof(float));
    tu_fill(z, n, 5);
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *x = pd_jit_forward(s.model, ctx, pd_tensor_from(ctx, z, shape, 4),
                                  (const float[]){0.25f, 0.9f}, (const int[]){1, c->num_classes}, NULL);
    if (!x) fail_msg("%s", pd_ctx_error(ctx));
    for (size_t i = 0; i < n; i++)
        if (x->data[i] != 0.0f) fail_msg("fresh model: x_pred[%zu] = %g, expected exactly 0", i, (double)x->data[i]);
    pd_ctx_free(ctx);
    free(z);
    pd_session_close(&s);
}

/* Upstream drops only in blocks with depth // 4 <= i < depth // 4 * 3
 * (model_jit.py; not 3 * depth // 4). With depth 3 that is no block at all,
 * so a training-mode forward with heavy dropout must equal the eval one;
 * with depth 6 (blocks 1, 2) and depth 8 (2..5) it must not. */
static void dropout_blocks_match_upstream(void **state) {
    (void)state;
    const int depths[] = {3, 6, 8};
    for (int k = 0; k < 3; k++) {
        pd_config cfg;
        pd_config_defaults(&cfg);
        char set[64];
        const char *sets[] = {"model.image_size=8", "model.channels=1", "model.patch_size=4",
                              "model.hidden_size=16", "model.num_heads=2", "model.bottleneck_dim=4",
                              "model.in_context_len=2", "model.in_context_start=1",
                              "model.num_classes=3", "model.proj_dropout=0.5", set};
        snprintf(set, sizeof set, "model.depth=%d", depths[k]);
        if (pd_config_set_all(&cfg, sets, 11)) fail_msg("%s", pd_last_error());
        pd_session s;
        if (pd_session_open(&s, &cfg)) fail_msg("%s", pd_last_error());
        assert_int_equal(pd_jit_init_weights(s.model, 1), PD_OK);
        pd_params *p = pd_jit_params(s.model);
        pd_rng r;
        pd_rng_seed(&r, 9);
        for (int i = 0; i < pd_params_count(p); i++) /* every block contributes */
            if (strstr(pd_params_at(p, i)->name, "adaLN") || strstr(pd_params_at(p, i)->name, "final_layer.linear"))
                pd_rng_fill_normal(&r, pd_params_at(p, i)->data, pd_params_at(p, i)->numel, 0.0f, 0.3f);
        float z[2 * 64];
        tu_fill(z, 2 * 64, 3);
        pd_ctx *ctx = pd_ctx_new(0);
        float t[2] = {0.3f, 0.6f};
        int labels[2] = {0, 3};
        pd_tensor *ev = pd_jit_forward(s.model, ctx, pd_tensor_from(ctx, z, (int[]){2, 1, 8, 8}, 4), t, labels, NULL);
        pd_ctx_set_training(ctx, true);
        pd_tensor *tr = pd_jit_forward(s.model, ctx, pd_tensor_from(ctx, z, (int[]){2, 1, 8, 8}, 4), t, labels, &r);
        if (!ev || !tr) fail_msg("%s", pd_ctx_error(ctx));
        bool same = !memcmp(ev->data, tr->data, sizeof z);
        if (same != (depths[k] / 4 == 0))
            fail_msg("depth %d: training forward %s the eval one; upstream drops in blocks [%d, %d)",
                     depths[k], same ? "equals" : "differs from", depths[k] / 4, depths[k] / 4 * 3);
        pd_ctx_free(ctx);
        pd_session_close(&s);
    }
    /* Attention dropout never reaches the attention plugins: refused, not ignored. */
    pd_config cfg;
    pd_config_defaults(&cfg);
    const char *sets[] = {"model.image_size=8", "model.patch_size=4", "model.hidden_size=16",
                          "model.num_heads=2", "model.depth=2", "model.in_context_start=1",
                          "model.attn_dropout=0.1"};
    if (pd_config_set_all(&cfg, sets, 7)) fail_msg("%s", pd_last_error());
    pd_session s;
    assert_int_equal(pd_session_open(&s, &cfg), PD_ERR_CONFIG);
    TU_ASSERT_CONTAINS(pd_last_error(), "attn_dropout");
}

/* ---- forward, loss and gradients --------------------------------------------------------- */

/* Run with the fused kernels (lazy gradients, or NaN-poisoned ones that
 * every op must overwrite or zero), and with the composed reference ops and
 * zeroed gradients: all must match the same goldens. */
typedef struct {
    const char *name;
    bool fused;
    pd_grad_init grad_init;
} run_mode;

static const run_mode modes[] = {
    {"fused", true, PD_GRAD_INIT_LAZY},
    {"fused+poison", true, PD_GRAD_INIT_POISON},
    {"reference", false, PD_GRAD_INIT_ZERO},
};

static void check_forward_and_grads_mode(const char *case_name, const run_mode *mode) {
    pd_session s;
    open_model(case_name, &s);
    char file[128];
    snprintf(file, sizeof file, "%s.data.safetensors", case_name);
    pd_st_file *f = open_golden(file);
    const pd_jit_config *c = pd_jit_get_config(s.model);
    const int B = 3;
    int shape[4];
    image_shape(c, B, shape);
    size_t n = pd_shape_numel(shape, 4);
    float *x = read_f32(f, "x", shape, 4), *z = read_f32(f, "z", shape, 4);
    float *t = read_f32(f, "t", (int[]){B}, 1);
    float *x_pred_ref = read_f32(f, "x_pred", shape, 4), *loss_ref = read_f32(f, "loss", NULL, 0);
    int labels[3];
    read_labels(f, "labels", labels, B);

    pd_ctx *ctx = pd_ctx_new(0);
    pd_ctx_set_fused(ctx, mode->fused);
    pd_ctx_set_grad_init(ctx, mode->grad_init);
    pd_params *params = pd_jit_params(s.model);
    pd_params_zero_grad(params);
    pd_tensor *xt = pd_tensor_from(ctx, x, shape, 4), *zt = pd_tensor_from(ctx, z, shape, 4);
    pd_tensor *x_pred = pd_jit_forward(s.model, ctx, zt, t, labels, NULL);
    pd_tensor *loss = pd_session_loss(&s, ctx, x_pred, xt, zt, t, labels, NULL);
    if (!loss) fail_msg("%s: %s", case_name, pd_ctx_error(ctx));
    double e_x = expect_close("x_pred", x_pred->data, x_pred_ref, n, TOL_FORWARD);
    double e_l = expect_close("loss", loss->data, loss_ref, 1, TOL_FORWARD);
    if (pd_backward(ctx, loss)) fail_msg("%s: backward: %s", case_name, pd_ctx_error(ctx));

    /* every trainable parameter has exactly one golden gradient */
    double e_g = 0;
    const char *worst = "";
    int n_grads = 0;
    for (int i = 0; i < pd_params_count(params); i++) {
        pd_tensor *p = pd_params_at(params, i);
        char name[256];
        snprintf(name, sizeof name, "grad.%s", p->name);
        if (pd_params_flags_at(params, i) & PD_PARAM_FROZEN) {
            assert_null(pd_st_find(f, name));
            continue;
        }
        assert_non_null(p->grad);
        float *g = read_f32(f, name, p->shape, p->ndim);
        double e = expect_close(name, p->grad, g, p->numel, TOL_GRAD);
        if (e > e_g) e_g = e, worst = p->name;
        free(g);
        n_grads++;
    }
    int golden_grads = 0;
    for (int i = 0; i < pd_st_count(f); i++) golden_grads += !strncmp(pd_st_at(f, i)->name, "grad.", 5);
    assert_int_equal(n_grads, golden_grads);
    print_message("  %s %-12s x_pred %.2g, loss %.2g (%.6g), %d grads, worst %.2g (%s)\n",
                  case_name, mode->name, e_x, e_l, (double)loss->data[0], n_grads, e_g, worst);

    pd_ctx_free(ctx);
    free(x), free(z), free(t), free(x_pred_ref), free(loss_ref);
    pd_st_close(f);
    pd_session_close(&s);
}

static void check_forward_and_grads(const char *case_name) {
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        check_forward_and_grads_mode(case_name, &modes[i]);
}

static void forward_loss_grads_c3(void **state) {
    (void)state;
    check_forward_and_grads("jit_c3");
}

static void forward_loss_grads_c1(void **state) {
    (void)state;
    check_forward_and_grads("jit_c1");
}

/* ---- samplers ------------------------------------------------------------------------------ */

static const char *const sampler_runs[] = {"euler3", "heun3", "heun5", "euler5_low0", "heun5_ties"};

static void check_sampler(const char *case_name) {
    pd_session s;
    open_model(case_name, &s);
    char file[128];
    snprintf(file, sizeof file, "%s.sample.safetensors", case_name);
    pd_st_file *f = open_golden(file);
    const pd_jit_config *c = pd_jit_get_config(s.model);
    const int S = 2;
    int shape[4], labels[2];
    image_shape(c, S, shape);
    size_t n = pd_shape_numel(shape, 4);
    float *z0 = read_f32(f, "z0", shape, 4);
    read_labels(f, "labels", labels, S);
    float *z = malloc(n * sizeof(float));
    pd_ctx *ctx = pd_ctx_new(0);
    for (size_t r = 0; r < sizeof sampler_runs / sizeof *sampler_runs; r++) {
        char method[16];
        int steps;
        float scale, low, high;
        const char *spec = meta(f, sampler_runs[r]);
        if (sscanf(spec, "%15[a-z],%d,%f,%f,%f", method, &steps, &scale, &low, &high) != 5)
            fail_msg("%s: bad sampler spec '%s'", sampler_runs[r], spec);
        pd_sample_config sc = {.sampler = strcmp(method, "heun") ? PD_SAMPLER_EULER : PD_SAMPLER_HEUN,
                               .steps = steps, .cfg_scale = scale, .cfg_low = low, .cfg_high = high,
                               .t_eps = (float)s.cfg.diffusion.t_eps, .noise_scale = 1.0f,
                               .schedule = PD_SCHEDULE_UNIFORM};
        memcpy(z, z0, n * sizeof(float));
        if (pd_sample_from(s.model, ctx, &sc, labels, S, z, NULL, NULL)) fail_msg("%s", pd_last_error());
        float *want = read_f32(f, sampler_runs[r], shape, 4);
        char what[64];
        snprintf(what, sizeof what, "%s %s", case_name, sampler_runs[r]);
        double e = expect_close(what, z, want, n, TOL_SAMPLE);
        print_message("  %s (%s): %.2g\n", what, spec, e);
        free(want);
    }
    pd_ctx_free(ctx);
    free(z0), free(z);
    pd_st_close(f);
    pd_session_close(&s);
}

static void samplers_c3(void **state) {
    (void)state;
    check_sampler("jit_c3");
}

static void samplers_c1(void **state) {
    (void)state;
    check_sampler("jit_c1");
}

static int teardown(void **state) {
    (void)state;
    pd_plugins_unload_all();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tables_match_torch),
        cmocka_unit_test(init_pos_embed_matches_torch),
        cmocka_unit_test(param_counts_match_upstream),
        cmocka_unit_test(fresh_model_outputs_zero),
        cmocka_unit_test(dropout_blocks_match_upstream),
        cmocka_unit_test(forward_loss_grads_c3),
        cmocka_unit_test(forward_loss_grads_c1),
        cmocka_unit_test(samplers_c3),
        cmocka_unit_test(samplers_c1),
    };
    return cmocka_run_group_tests_name("jit_parity", tests, NULL, teardown);
}
