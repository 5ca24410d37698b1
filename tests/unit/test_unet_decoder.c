/* The unet_decoder plugin (DiP's Patch Detailer Head, docs/unet_decoder.md),
 * loaded through the plugin loader the way pixeldit loads it:
 *   - PyTorch parity: output and every gradient against the goldens of
 *     tests/golden/make_unet_goldens.py (p = 4, 16, residual with a 2 x 2
 *     bottleneck, p = 8 with a channel cap);
 *   - finite-difference gradcheck of the whole decoder, both modes;
 *   - parameter counts against PyTorch's, and the analytic FLOPs;
 *   - config errors: patch sizes the U-Net cannot halve to 1 x 1, stages.
 * Argument: the full path of unet_decoder.so.
 *
 * Errors are max |c - t| / max |t| over a whole tensor. Tolerance 1e-5 for
 * the output and 1e-5 for the gradients: fp32 throughout, the differences
 * come from summation order only (im2col + OpenBLAS against torch's CPU
 * convolution), through at most 4 + 1 + 4 layers. */
#define TOL_OUT 1e-5
#define TOL_GRAD 1e-5
#define DECODER_GOLDEN_DIR "unet"
#include "decoder_test_util.h"

/* Parameter counts of the PyTorch head (make_unet_goldens.py prints them). */
#define TORCH_PARAMS_XL16 6968067      /* C 3, p 16, D 1152, base 64: spec 2.2's 6.97M */
#define TORCH_PARAMS_SMALL 419073      /* C 1, p 4, D 192, base 64 (configs/small-unet.ini) */
#define TORCH_PARAMS_SMALL_RES 496465  /* the same in residual mode (+ JiT final layer) */
#define TORCH_PARAMS_XL32_S4 6968067   /* p 32 with 4 stages: DiP-XL/32, 2 x 2 bottleneck */
#define TORCH_PARAMS_P32 15096067      /* p 32, 5 stages, channels capped at 8w */
/* Forward FLOPs of the head per image, measured by make_unet_goldens.py
 * with hooks on the PyTorch convs: XL/16 at 256^2 (66,879,488 MACs per
 * patch x 256 patches x 2; spec 2.2: "17.1 GMAC ~ 34 GFLOPs") and the
 * small preset at 32^2. */
#define XL16_FLOPS 34242297856.0
#define SMALL_FLOPS 287571968.0

/* Creates the case's decoder with its keys and loads every golden weight
 * into it; the file must hold exactly the plugin's parameters. */
static void open_case(const char *name, decoder *d, pd_st_file **weights, pd_st_file **data) {
    static const char *const keys[] = {"mode", "base_width", "stages", "max_width_mult"};
    open_golden_case(name, keys, 4, d, weights, data);
}

static void run_golden(const char *name) {
    decoder d;
    pd_st_file *w, *f;
    open_case(name, &d, &w, &f);
    const pd_model_info *m = &d.info;
    int B = pd_st_find(f, "z")->shape[0], C = m->channels, H = m->image_size, D = m->hidden_size;
    int img[4] = {B, C, H, H};

    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *z = golden_tensor(ctx, f, "z", img, 4, false);
    pd_tensor *tokens = golden_tensor(ctx, f, "tokens", (int[]){B, m->num_tokens, D}, 3, true);
    pd_tensor *t_emb = golden_tensor(ctx, f, "t_emb", (int[]){B, D}, 2, true);
    pd_tensor *c = golden_tensor(ctx, f, "c", (int[]){B, D}, 2, true);
    pd_tensor *gy = golden_tensor(ctx, f, "gy", img, 4, false);
    pd_tensor *y_emb = pd_tensor_zeros(ctx, (int[]){B, D}, 2), *t = pd_tensor_zeros(ctx, (int[]){B}, 1);
    pd_decoder_inputs in = {.struct_size = sizeof in, .tokens = tokens, .t_emb = t_emb,
                            .y_emb = y_emb, .c = c, .t = t, .z = z};

    pd_params_zero_grad(d.params);
    pd_tensor *out = d.vt->forward(d.state, ctx, &in);
    if (!out) fail_msg("%s: forward: %s", name, pd_ctx_error(ctx));
    assert_memory_equal(out->shape, img, sizeof img);
    double e_out = expect_golden(f, "out", img, 4, out->data, TOL_OUT);

    double e_grad = golden_backward_params(ctx, &d, f, out, gy);
    e_grad = fmax(e_grad, expect_grad(f, "tokens", tokens));
    e_grad = fmax(e_grad, expect_grad(f, "t_emb", t_emb));
    if (!strcmp(pd_st_metadata(w, "mode"), "residual"))
        e_grad = fmax(e_grad, expect_grad(f, "c", c));
    print_message("  %-18s out err %.2e, worst gradient err %.2e (%d parameters, tokens, t_emb)\n",
                  name, e_out, e_grad, pd_params_count(d.params));

    pd_ctx_free(ctx);
    pd_st_close(w), pd_st_close(f);
    decoder_close(&d);
}

static void golden_p4(void **state) { (void)state; run_golden("unet_p4"); }
static void golden_p16(void **state) { (void)state; run_golden("unet_p16"); }
static void golden_p4_residual(void **state) { (void)state; run_golden("unet_p4_residual"); }
static void golden_p8_cap(void **state) { (void)state; run_golden("unet_p8_cap"); }

/* ---- finite differences --------------------------------------------------------------- */

static pd_tensor *decoder_fn(pd_ctx *ctx, pd_tensor *const *x, int n, void *user) {
    (void)n;
    decoder *d = user;
    int B = x[3]->shape[0], D = d->info.hidden_size;
    pd_tensor *y_emb = pd_tensor_zeros(ctx, (int[]){B, D}, 2), *t = pd_tensor_zeros(ctx, (int[]){B}, 1);
    pd_decoder_inputs in = {.struct_size = sizeof in, .tokens = x[0], .t_emb = x[1],
                            .y_emb = y_emb, .c = x[2], .t = t, .z = x[3]};
    return d->vt->forward(d->state, ctx, &in);
}

/* tokens, t_emb, c (checked) and z (not: it has no gradient in pixeldit),
 * and every parameter, on a tiny config with PyTorch-default weights (the
 * output conv too, else everything upstream of it has zero gradient). */
static void gradcheck_case(const char *const *kv, int n, int C, bool residual, uint64_t seed) {
    decoder d;
    pd_model_info info = model_info(8, C, 4, 6);
    if (decoder_open(&d, info, kv, n)) fail_msg("%s", pd_last_error());
    pd_rng rng;
    pd_rng_seed(&rng, seed);
    assert_int_equal(d.vt->init_weights(d.state, &rng), PD_OK);
    if (residual) /* JiT's zero init would leave the final layer's gradients trivial */
        for (int i = 0; i < pd_params_count(d.params); i++) {
            pd_tensor *p = pd_params_at(d.params, i);
            if (strstr(p->name, "final_layer")) tu_fill(p->data, p->numel, seed + i);
        }
    int B = 1, D = 6, N = info.num_tokens;
    float tok[1 * 4 * 6], te[6], c[6], z[1 * 3 * 8 * 8];
    tu_fill(tok, sizeof tok / sizeof *tok, seed + 100);
    tu_fill(te, 6, seed + 101);
    tu_fill(c, 6, seed + 102);
    tu_fill(z, (size_t)C * 64, seed + 103);
    pd_gradcheck_input in[4] = {{tok, (int[]){B, N, D}, 3, true},
                                {te, (int[]){B, D}, 2, true},
                                {c, (int[]){B, D}, 2, residual},
                                {z, (int[]){B, C, 8, 8}, 4, false}};
    pd_gradcheck_opts o = pd_gradcheck_defaults();
    o.params = d.params;
    o.max_checks = 32;
    TU_GRADCHECK(decoder_fn, &d, in, 4, &o);
    decoder_close(&d);
}

static void gradcheck_replace(void **state) {
    (void)state;
    const char *kv[] = {"base_width=4", "out_init=default"};
    gradcheck_case(kv, 2, 1, false, 11);
}

static void gradcheck_residual(void **state) {
    (void)state;
    const char *kv[] = {"mode=residual", "base_width=4", "stages=1", "out_init=default"};
    gradcheck_case(kv, 4, 2, true, 23);
}

/* ---- sizes, init, flops ------------------------------------------------------------------ */

static size_t count_params(pd_model_info info, const char *const *kv, int n) {
    decoder d;
    if (decoder_open(&d, info, kv, n)) fail_msg("%s", pd_last_error());
    size_t numel = pd_params_numel(d.params, true);
    decoder_close(&d);
    return numel;
}

static void param_counts_match_torch(void **state) {
    (void)state;
    pd_model_info xl16 = model_info(256, 3, 16, 1152), small = model_info(32, 1, 4, 192);
    pd_model_info xl32 = model_info(512, 3, 32, 1152);
    const char *res[] = {"mode=residual"}, *s4[] = {"stages=4"};
    assert_int_equal(count_params(xl16, NULL, 0), TORCH_PARAMS_XL16);
    assert_int_equal(count_params(small, NULL, 0), TORCH_PARAMS_SMALL);
    assert_int_equal(count_params(small, res, 1), TORCH_PARAMS_SMALL_RES);
    assert_int_equal(count_params(xl32, s4, 1), TORCH_PARAMS_XL32_S4);
    assert_int_equal(count_params(xl32, NULL, 0), TORCH_PARAMS_P32);
}

static void flops_and_init(void **state) {
    (void)state;
    decoder d;
    if (decoder_open(&d, model_info(256, 3, 16, 1152), NULL, 0)) fail_msg("%s", pd_last_error());
    assert_non_null(d.vt->flops);
    double f = d.vt->flops(d.state);
    if (f != XL16_FLOPS) fail_msg("XL/16 head FLOPs %.0f, expected %.0f", f, XL16_FLOPS);
    decoder small;
    if (decoder_open(&small, model_info(32, 1, 4, 192), NULL, 0)) fail_msg("%s", pd_last_error());
    f = small.vt->flops(small.state);
    if (f != SMALL_FLOPS) fail_msg("small head FLOPs %.0f, expected %.0f", f, SMALL_FLOPS);
    decoder_close(&small);
    pd_rng rng;
    pd_rng_seed(&rng, 5);
    assert_int_equal(d.vt->init_weights(d.state, &rng), PD_OK);
    /* out_init = zero (default): out.* exactly 0; others U(+-1/sqrt(fan_in)) */
    pd_tensor *ow = pd_params_find(d.params, "decoder.out.weight");
    for (size_t i = 0; i < ow->numel; i++) assert_true(ow->data[i] == 0.0f);
    pd_tensor *e2 = pd_params_find(d.params, "decoder.enc2.weight");  /* fan_in 64*9 */
    pd_tensor *u4 = pd_params_find(d.params, "decoder.up4.weight");   /* fan_in 512*4 (Co) */
    double m2 = 0, m4 = 0;
    for (size_t i = 0; i < e2->numel; i++) m2 = fmax(m2, fabs(e2->data[i]));
    for (size_t i = 0; i < u4->numel; i++) m4 = fmax(m4, fabs(u4->data[i]));
    assert_true(m2 <= 1.0 / sqrt(576.0) && m2 > 0.95 / sqrt(576.0));
    assert_true(m4 <= 1.0 / sqrt(2048.0) && m4 > 0.95 / sqrt(2048.0));
    decoder_close(&d);
}

/* ---- config errors -------------------------------------------------------------------- */

static void bad_patch_size(void **state) {
    (void)state;
    expect_create_error(model_info(36, 3, 6, 16), NULL, 0, "patch_size 6", "power of two");
    expect_create_error(model_info(48, 3, 12, 16), NULL, 0, "patch_size 12", "1 x 1");
    expect_create_error(model_info(32, 3, 1, 16), NULL, 0, "patch_size 1", "power of two");
    const char *too_deep[] = {"stages=3"};
    expect_create_error(model_info(32, 3, 4, 16), too_deep, 1, "stages = 3", "1..2");
    const char *narrow[] = {"base_width=2"};
    expect_create_error(model_info(32, 3, 4, 16), narrow, 1, "base_width", NULL);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_p4),          cmocka_unit_test(golden_p16),
        cmocka_unit_test(golden_p4_residual), cmocka_unit_test(golden_p8_cap),
        cmocka_unit_test(gradcheck_replace),  cmocka_unit_test(gradcheck_residual),
        cmocka_unit_test(param_counts_match_torch), cmocka_unit_test(flops_and_init),
        cmocka_unit_test(bad_patch_size),
    };
    return decoder_test_main(argc, argv, "unet_decoder.so", tests, sizeof tests / sizeof *tests);
}
