/* The bilinear_head plugin (docs/bilinear_head.md), loaded through the
 * plugin loader the way pixeldit loads it:
 *   - PyTorch parity: output and every gradient against the goldens of
 *     tests/golden/make_bilinear_goldens.py (the defaults at p = 4; p = 8
 *     with a 2x feature grid, align_corners and no residual; an odd p = 3
 *     on an odd 5 x 5 grid with a 5 x 5 conv; a 1 x 1 conv);
 *   - finite-difference gradcheck, residual and not;
 *   - parameter counts against PyTorch's and the formula, FLOPs, the init
 *     (a fresh residual head equals JiT's final layer: outputs 0);
 *   - config errors: even kernel, grid_mult above the patch size.
 * Argument: the full path of bilinear_head.so.
 *
 * Errors are max |c - t| / max |t| over a whole tensor; tolerance 1e-5
 * (fp32, summation order only). */
#define TOL_OUT 1e-5
#define TOL_GRAD 1e-5
#define DECODER_GOLDEN_DIR "bilinear"
#include "decoder_test_util.h"

/* PyTorch's counts (make_bilinear_goldens.py prints them). */
#define TORCH_PARAMS_SMALL 78210      /* C 1, p 4, D 192, defaults (configs/small-bilinear.ini) */
#define TORCH_PARAMS_SMALL_S2 80526   /* grid_mult 2 */
#define TORCH_PARAMS_SMALL_REPL 75113 /* residual false */
#define TORCH_PARAMS_B16 1782180      /* C 3, p 16, D 768 (JiT-B/16), defaults */
/* JiT's final layer at the small preset (jit_final_layer): 77,392. */
#define JIT_FINAL_LAYER_SMALL 77392

static void open_case(const char *name, decoder *d, pd_st_file **weights, pd_st_file **data) {
    static const char *const keys[] = {"k", "kernel", "residual", "align_corners", "grid_mult"};
    open_golden_case(name, keys, 5, d, weights, data);
}

static void run_golden(const char *name) {
    decoder d;
    pd_st_file *w, *f;
    open_case(name, &d, &w, &f);
    const pd_model_info *m = &d.info;
    int B = pd_st_find(f, "tokens")->shape[0], C = m->channels, H = m->image_size, D = m->hidden_size;
    int img[4] = {B, C, H, H};

    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *tokens = golden_tensor(ctx, f, "tokens", (int[]){B, m->num_tokens, D}, 3, true);
    pd_tensor *c = golden_tensor(ctx, f, "c", (int[]){B, D}, 2, true);
    pd_tensor *gy = golden_tensor(ctx, f, "gy", img, 4, false);
    pd_tensor *zero = pd_tensor_zeros(ctx, (int[]){B, D}, 2), *t = pd_tensor_zeros(ctx, (int[]){B}, 1);
    pd_tensor *z = pd_tensor_zeros(ctx, img, 4);
    pd_decoder_inputs in = {.struct_size = sizeof in, .tokens = tokens, .t_emb = zero,
                            .y_emb = zero, .c = c, .t = t, .z = z};

    pd_params_zero_grad(d.params);
    pd_tensor *out = d.vt->forward(d.state, ctx, &in);
    if (!out) fail_msg("%s: forward: %s", name, pd_ctx_error(ctx));
    assert_memory_equal(out->shape, img, sizeof img);
    double e_out = expect_golden(f, "out", img, 4, out->data, TOL_OUT);

    double e_grad = golden_backward_params(ctx, &d, f, out, gy);
    e_grad = fmax(e_grad, expect_grad(f, "tokens", tokens));
    e_grad = fmax(e_grad, expect_grad(f, "c", c));
    print_message("  %-16s out err %.2e, worst gradient err %.2e (%d parameters, tokens, c)\n", name,
                  e_out, e_grad, pd_params_count(d.params));

    pd_ctx_free(ctx);
    pd_st_close(w), pd_st_close(f);
    decoder_close(&d);
}

static void golden_p4(void **state) { (void)state; run_golden("bilinear_p4"); }
static void golden_p8_s2(void **state) { (void)state; run_golden("bilinear_p8_s2"); }
static void golden_p3_odd(void **state) { (void)state; run_golden("bilinear_p3_odd"); }
static void golden_p4_k1(void **state) { (void)state; run_golden("bilinear_p4_k1"); }

/* ---- finite differences --------------------------------------------------------------- */

static pd_tensor *decoder_fn(pd_ctx *ctx, pd_tensor *const *x, int n, void *user) {
    (void)n;
    decoder *d = user;
    const pd_model_info *m = &d->info;
    int B = x[1]->shape[0], D = m->hidden_size;
    pd_tensor *zero = pd_tensor_zeros(ctx, (int[]){B, D}, 2), *t = pd_tensor_zeros(ctx, (int[]){B}, 1);
    pd_tensor *z = pd_tensor_zeros(ctx, (int[]){B, m->channels, m->image_size, m->image_size}, 4);
    pd_decoder_inputs in = {.struct_size = sizeof in, .tokens = x[0], .t_emb = zero,
                            .y_emb = zero, .c = x[1], .t = t, .z = z};
    return d->vt->forward(d->state, ctx, &in);
}

/* tokens, c and every parameter on a tiny config; all parameters random,
 * +-0.25 (larger values make outputs of ~5 whose fp32 rounding over 2 eps
 * nears the tolerance)
 * (the init zeroes the conv and JiT's layers: their upstream gradients
 * would be trivially 0). */
static void gradcheck_case(const char *const *kv, int n, pd_model_info info, uint64_t seed) {
    decoder d;
    if (decoder_open(&d, info, kv, n)) fail_msg("%s", pd_last_error());
    for (int i = 0; i < pd_params_count(d.params); i++) {
        pd_tensor *p = pd_params_at(d.params, i);
        tu_fill(p->data, p->numel, seed + i);
        float base = strstr(p->name, "norm_final") ? 1.0f : 0.0f;
        for (size_t k = 0; k < p->numel; k++) p->data[k] = base + 0.25f * p->data[k];
    }
    int B = 2, D = info.hidden_size, N = info.num_tokens;
    float *tok = malloc((size_t)B * N * D * sizeof(float)), *c = malloc((size_t)B * D * sizeof(float));
    assert_non_null(tok), assert_non_null(c);
    tu_fill(tok, (size_t)B * N * D, seed + 100);
    tu_fill(c, (size_t)B * D, seed + 101);
    pd_gradcheck_input in[2] = {{tok, (int[]){B, N, D}, 3, true}, {c, (int[]){B, D}, 2, true}};
    pd_gradcheck_opts o = pd_gradcheck_defaults();
    o.params = d.params;
    o.max_checks = 32;
    TU_GRADCHECK(decoder_fn, &d, in, 2, &o);
    free(tok), free(c);
    decoder_close(&d);
}

static void gradcheck_residual(void **state) {
    (void)state;
    const char *kv[] = {"k=2", "kernel=3", "grid_mult=2"};
    gradcheck_case(kv, 3, model_info(9, 2, 3, 6), 11);
}

static void gradcheck_plain(void **state) {
    (void)state;
    const char *kv[] = {"k=3", "kernel=3", "residual=false", "align_corners=true"};
    gradcheck_case(kv, 4, model_info(8, 1, 4, 6), 23);
}

/* ---- sizes, init, flops ------------------------------------------------------------------ */

static size_t count_params(pd_model_info info, const char *const *kv, int n) {
    decoder d;
    if (decoder_open(&d, info, kv, n)) fail_msg("%s", pd_last_error());
    size_t numel = pd_params_numel(d.params, true);
    decoder_close(&d);
    return numel;
}

/* docs/bilinear_head.md: D + 2D(D + 1) [+ p^2 C (D + 1)] + s^2 K (D + 1)
 * + C ((K [+ C]) kernel^2 + 1), K = C k. */
static size_t formula(long C, long p, long D, long k, long kernel, bool residual, long s) {
    long K = C * k, cin = K + (residual ? C : 0);
    return (size_t)(D + 2 * D * (D + 1) + (residual ? p * p * C * (D + 1) : 0) + s * s * K * (D + 1) +
                    C * (cin * kernel * kernel + 1));
}

static void param_counts(void **state) {
    (void)state;
    pd_model_info small = model_info(32, 1, 4, 192), b16 = model_info(256, 3, 16, 768);
    const char *s2[] = {"grid_mult=2"}, *repl[] = {"residual=false"};
    assert_int_equal(count_params(small, NULL, 0), TORCH_PARAMS_SMALL);
    assert_int_equal(count_params(small, s2, 1), TORCH_PARAMS_SMALL_S2);
    assert_int_equal(count_params(small, repl, 1), TORCH_PARAMS_SMALL_REPL);
    assert_int_equal(count_params(b16, NULL, 0), TORCH_PARAMS_B16);
    assert_int_equal(count_params(small, NULL, 0), formula(1, 4, 192, 4, 3, true, 1));
    const char *kv[] = {"k=5", "kernel=7", "grid_mult=2"};
    assert_int_equal(count_params(model_info(15, 3, 3, 10), kv, 3), formula(3, 3, 10, 5, 7, true, 2));
    /* the defaults add 818 parameters to JiT's final layer at the small preset */
    assert_int_equal(TORCH_PARAMS_SMALL - JIT_FINAL_LAYER_SMALL, 818);
}

/* FLOPs: adaLN 2 D 2D + proj 2 N D s^2 K + linear 2 N D p^2 C + conv
 * 2 H W C (K + C) kernel^2: at the small preset 147,456 + 98,304 + 393,216
 * + 92,160. */
static void flops_and_init(void **state) {
    (void)state;
    decoder d;
    if (decoder_open(&d, model_info(32, 1, 4, 192), NULL, 0)) fail_msg("%s", pd_last_error());
    double f = d.vt->flops(d.state);
    if (f != 731136.0) fail_msg("small head FLOPs %.0f, expected 731136", f);
    pd_rng rng;
    pd_rng_seed(&rng, 9);
    assert_int_equal(d.vt->init_weights(d.state, &rng), PD_OK);
    pd_tensor *pw = pd_params_find(d.params, "decoder.proj.weight");      /* (4, 192) */
    pd_tensor *cw = pd_params_find(d.params, "decoder.refine.weight");    /* (1, 5, 3, 3) */
    pd_tensor *lw = pd_params_find(d.params, "decoder.final_layer.linear.weight");
    pd_tensor *nw = pd_params_find(d.params, "decoder.final_layer.norm_final.weight");
    assert_non_null(pw), assert_non_null(cw), assert_non_null(lw), assert_non_null(nw);
    assert_int_equal(cw->shape[1], 5);
    double mp = 0;
    for (size_t i = 0; i < pw->numel; i++) mp = fmax(mp, fabs(pw->data[i]));
    assert_true(mp <= sqrt(6.0 / 196) && mp > 0.9 * sqrt(6.0 / 196)); /* xavier_uniform */
    for (size_t i = 0; i < cw->numel; i++) assert_true(cw->data[i] == 0.0f);
    for (size_t i = 0; i < lw->numel; i++) assert_true(lw->data[i] == 0.0f);
    for (size_t i = 0; i < nw->numel; i++) assert_true(nw->data[i] == 1.0f);
    /* a fresh head outputs 0, like JiT's final layer; the conv and the
     * final linear get gradients at once */
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *tok = pd_tensor_empty(ctx, (int[]){2, 64, 192}, 3), *c = pd_tensor_empty(ctx, (int[]){2, 192}, 2);
    pd_tensor *gy = pd_tensor_empty(ctx, (int[]){2, 1, 32, 32}, 4);
    tu_fill(tok->data, tok->numel, 1), tu_fill(c->data, c->numel, 2), tu_fill(gy->data, gy->numel, 3);
    pd_decoder_inputs in = {.struct_size = sizeof in, .tokens = tok, .t_emb = c,
                            .y_emb = c, .c = c, .t = pd_tensor_zeros(ctx, (int[]){2}, 1), .z = gy};
    pd_params_zero_grad(d.params);
    pd_tensor *out = d.vt->forward(d.state, ctx, &in);
    if (!out) fail_msg("%s", pd_ctx_error(ctx));
    for (size_t i = 0; i < out->numel; i++) assert_true(out->data[i] == 0.0f);
    assert_int_equal(pd_backward(ctx, pd_sum(ctx, pd_mul(ctx, out, gy))), PD_OK);
    double gc = 0, gl = 0;
    for (size_t i = 0; i < cw->numel; i++) gc = fmax(gc, fabs(cw->grad[i]));
    for (size_t i = 0; i < lw->numel; i++) gl = fmax(gl, fabs(lw->grad[i]));
    assert_true(gc > 0 && gl > 0);
    pd_ctx_free(ctx);
    decoder_close(&d);
}

/* ---- config errors -------------------------------------------------------------------- */

static void config_errors(void **state) {
    (void)state;
    const char *even[] = {"kernel=4"}, *big[] = {"grid_mult=2"}, *k0[] = {"k=0"};
    expect_create_error(model_info(8, 1, 4, 6), even, 1, "kernel = 4 is even", "odd");
    expect_create_error(model_info(8, 1, 1, 6), big, 1, "grid_mult = 2 exceeds patch_size 1", NULL);
    expect_create_error(model_info(8, 1, 4, 6), k0, 1, "k = 0: out of range", NULL);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_p4),          cmocka_unit_test(golden_p8_s2),
        cmocka_unit_test(golden_p3_odd),      cmocka_unit_test(golden_p4_k1),
        cmocka_unit_test(gradcheck_residual), cmocka_unit_test(gradcheck_plain),
        cmocka_unit_test(param_counts),       cmocka_unit_test(flops_and_init),
        cmocka_unit_test(config_errors),
    };
    return decoder_test_main(argc, argv, "bilinear_head.so", tests, sizeof tests / sizeof *tests);
}
