/* The deco_decoder plugin (DeCo's pixel decoder, docs/deco_decoder.md),
 * loaded through the plugin loader the way pixeldit loads it:
 *   - PyTorch parity: output and every gradient against the goldens of
 *     tests/golden/make_deco_goldens.py (p = 4, 8, DeCo's 16, and an odd
 *     p = 3 on an odd 5 x 5 grid with F = 5), whose reference follows the
 *     official unfold / concat / fold formulation;
 *   - the position table against the spec's closed form (deco.md 2.1);
 *   - finite-difference gradcheck of the whole decoder;
 *   - parameter counts against the spec's (DeCo-XL 9,464,739, DeCo-L
 *     8,416,163) and the formula, analytic FLOPs, DeCo's zero init;
 *   - input shape errors.
 * Argument: the full path of deco_decoder.so.
 *
 * Errors are max |c - t| / max |t| over a whole tensor; tolerance 1e-5:
 * fp32 throughout, differences from summation order only (the plugin splits
 * the embedder's GEMM and sums per-pixel rows in a different order). */
#include "../../plugins/deco_decoder/deco_decoder.h" /* deco_dct_table, compiled in */

#define TOL_OUT 1e-5
#define TOL_GRAD 1e-5
#define DECODER_GOLDEN_DIR "deco"
#include "decoder_test_util.h"

/* Parameter counts of the PyTorch decoder (make_deco_goldens.py prints them). */
#define TORCH_PARAMS_XL 9464739    /* C 3, p 16, D 1152, w 32, 3 blocks: spec 2.5 */
#define TORCH_PARAMS_L 8416163     /* D 1024: spec 2.5's "8.42M" */
#define TORCH_PARAMS_SMALL 118049  /* C 1, p 4, D 192 (configs/small-deco.ini) */
/* Forward FLOPs per image as the plugin counts them (make_deco_goldens.py's
 * linear_flops): DeCo-XL at 256^2, small preset at 32^2. */
#define XL_FLOPS 7005536256.0
#define SMALL_FLOPS 46333952.0

/* Creates the case's decoder with its keys and loads every golden weight
 * into it; the file must hold exactly the plugin's parameters. */
static void open_case(const char *name, decoder *d, pd_st_file **weights, pd_st_file **data) {
    static const char *const keys[] = {"width", "depth", "max_freqs"};
    open_golden_case(name, keys, 3, d, weights, data);
}

static void run_golden(const char *name) {
    decoder d;
    pd_st_file *w, *f;
    open_case(name, &d, &w, &f);
    const pd_model_info *m = &d.info;
    int B = pd_st_find(f, "z")->shape[0], C = m->channels, H = m->image_size, D = m->hidden_size;
    int p = m->patch_size, F = meta_int(w, "max_freqs");
    int img[4] = {B, C, H, H};

    /* the position table first: the plugin's against torch's (both fp32,
     * the same operations; the cosines may differ in the last bit) */
    float *dct = malloc((size_t)p * p * F * F * sizeof(float));
    assert_non_null(dct);
    deco_dct_table(dct, p, F);
    double e_dct = expect_golden(f, "dct", (int[]){p * p, F * F}, 2, dct, 1e-6);
    free(dct);

    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *z = golden_tensor(ctx, f, "z", img, 4, false);
    pd_tensor *tokens = golden_tensor(ctx, f, "tokens", (int[]){B, m->num_tokens, D}, 3, true);
    pd_tensor *t_emb = golden_tensor(ctx, f, "t_emb", (int[]){B, D}, 2, true);
    pd_tensor *gy = golden_tensor(ctx, f, "gy", img, 4, false);
    pd_tensor *y_emb = pd_tensor_zeros(ctx, (int[]){B, D}, 2), *c = pd_tensor_zeros(ctx, (int[]){B, D}, 2);
    pd_tensor *t = pd_tensor_zeros(ctx, (int[]){B}, 1);
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
    print_message("  %-12s dct err %.1e, out err %.2e, worst gradient err %.2e (%d parameters, tokens, t_emb)\n",
                  name, e_dct, e_out, e_grad, pd_params_count(d.params));

    pd_ctx_free(ctx);
    pd_st_close(w), pd_st_close(f);
    decoder_close(&d);
}

static void golden_p4(void **state) { (void)state; run_golden("deco_p4"); }
static void golden_p8(void **state) { (void)state; run_golden("deco_p8"); }
static void golden_p16(void **state) { (void)state; run_golden("deco_p16"); }
static void golden_p3_odd(void **state) { (void)state; run_golden("deco_p3_odd"); }

/* The spec's closed form at DeCo's size (deco.md 2.1): feature a*8 + b of
 * pixel (row i, col j) is cos(pi (j/15) f_a) cos(pi (i/15) f_b) / (1 + f_a f_b),
 * f_k = 8k/7, here in double. The plugin's table is fp32 as DeCo's, whose
 * arguments (up to 8 pi) are rounded to fp32 before the cosine: up to ~2e-6
 * from the exact values. And p = 1: one position at 0, so only the
 * 1/(1 + f_a f_b). */
static void dct_table_closed_form(void **state) {
    (void)state;
    static float t[256 * 64];
    deco_dct_table(t, 16, 8);
    double worst = 0;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            for (int a = 0; a < 8; a++)
                for (int b = 0; b < 8; b++) {
                    double fa = 8.0 * a / 7, fb = 8.0 * b / 7;
                    double want = cos(M_PI * j / 15 * fa) * cos(M_PI * i / 15 * fb) / (1 + fa * fb);
                    worst = fmax(worst, fabs(t[(i * 16 + j) * 64 + a * 8 + b] - want));
                }
    assert_true(worst < 5e-6);
    /* the x frequency is the outer index: pixel (0, 15) has x = 1 */
    assert_true(fabs(t[15 * 64 + 1 * 8 + 0] - cos(M_PI * 8.0 / 7)) < 1e-6);
    assert_true(fabs(t[15 * 64 + 0 * 8 + 1] - 1.0) < 1e-6);
    float one[9];
    deco_dct_table(one, 1, 3);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) assert_true(fabs(one[a * 3 + b] - 1.0 / (1 + 1.5 * a * 1.5 * b)) < 1e-6);
}

/* ---- finite differences --------------------------------------------------------------- */

static pd_tensor *decoder_fn(pd_ctx *ctx, pd_tensor *const *x, int n, void *user) {
    (void)n;
    decoder *d = user;
    int B = x[2]->shape[0], D = d->info.hidden_size;
    pd_tensor *y_emb = pd_tensor_zeros(ctx, (int[]){B, D}, 2), *c = pd_tensor_zeros(ctx, (int[]){B, D}, 2);
    pd_tensor *t = pd_tensor_zeros(ctx, (int[]){B}, 1);
    pd_decoder_inputs in = {.struct_size = sizeof in, .tokens = x[0], .t_emb = x[1],
                            .y_emb = y_emb, .c = c, .t = t, .z = x[2]};
    return d->vt->forward(d->state, ctx, &in);
}

/* tokens, t_emb (checked) and z (not: it has no gradient in pixeldit), and
 * every parameter, on a tiny config; the zero-initialised parameters are
 * randomised, else everything upstream of them has zero gradient. */
static void gradcheck_decoder(void **state) {
    (void)state;
    decoder d;
    pd_model_info info = model_info(8, 2, 4, 6);
    const char *kv[] = {"width=8", "depth=2", "max_freqs=3"};
    if (decoder_open(&d, info, kv, 3)) fail_msg("%s", pd_last_error());
    pd_rng rng;
    pd_rng_seed(&rng, 7);
    assert_int_equal(d.vt->init_weights(d.state, &rng), PD_OK);
    for (int i = 0; i < pd_params_count(d.params); i++) {
        pd_tensor *p = pd_params_at(d.params, i);
        if (!strstr(p->name, "adaLN") && !strstr(p->name, "final_layer") && !strstr(p->name, "in_ln"))
            continue;
        tu_fill(p->data, p->numel, 40 + i);
        float base = strstr(p->name, "in_ln.weight") ? 1.0f : 0.0f;
        for (size_t k = 0; k < p->numel; k++) p->data[k] = base + 0.3f * p->data[k];
    }
    int B = 2, D = 6, N = info.num_tokens;
    float tok[2 * 4 * 6], te[2 * 6], z[2 * 2 * 8 * 8];
    tu_fill(tok, sizeof tok / sizeof *tok, 100);
    tu_fill(te, sizeof te / sizeof *te, 101);
    tu_fill(z, sizeof z / sizeof *z, 102);
    pd_gradcheck_input in[3] = {{tok, (int[]){B, N, D}, 3, true},
                                {te, (int[]){B, D}, 2, true},
                                {z, (int[]){B, 2, 8, 8}, 4, false}};
    pd_gradcheck_opts o = pd_gradcheck_defaults();
    o.params = d.params;
    o.max_checks = 32;
    /* eps 2e-3, not 1e-3: the fp32 forward runs through 2 + 1 LayerNorms of
     * 8 features, whose rounding noise over 2 eps reached 0.8 of the tolerance
     * at 1e-3 (0.4 here); the goldens check the same gradients to 1e-5 */
    o.eps = 2e-3;
    TU_GRADCHECK(decoder_fn, &d, in, 3, &o);
    decoder_close(&d);
}

/* ---- sizes, init, flops ------------------------------------------------------------------ */

static size_t count_params(pd_model_info info, const char *const *kv, int n) {
    decoder d;
    if (decoder_open(&d, info, kv, n)) fail_msg("%s", pd_last_error());
    size_t numel = pd_params_numel(d.params, true);
    decoder_close(&d);
    return numel;
}

/* docs/deco_decoder.md: p^2 w (D + 1) + w (C + F^2 + 1) + (w^2 + w)
 * + depth (2w + 2 (w^2 + w) + 3w^2 + 3w) + C (w + 1). */
static size_t formula(long C, long p, long D, long w, long depth, long F) {
    return (size_t)(p * p * w * (D + 1) + w * (C + F * F + 1) + (w * w + w) +
                    depth * (2 * w + 2 * (w * w + w) + 3 * w * w + 3 * w) + C * (w + 1));
}

static void param_counts(void **state) {
    (void)state;
    pd_model_info xl = model_info(256, 3, 16, 1152), large = model_info(256, 3, 16, 1024);
    pd_model_info small = model_info(32, 1, 4, 192), odd = model_info(15, 3, 3, 12);
    assert_int_equal(count_params(xl, NULL, 0), TORCH_PARAMS_XL);
    assert_int_equal(count_params(large, NULL, 0), TORCH_PARAMS_L);
    assert_int_equal(count_params(small, NULL, 0), TORCH_PARAMS_SMALL);
    assert_int_equal(count_params(xl, NULL, 0), formula(3, 16, 1152, 32, 3, 8));
    const char *kv[] = {"width=6", "depth=5", "max_freqs=5"};
    assert_int_equal(count_params(odd, kv, 3), formula(3, 3, 12, 6, 5, 5));
}

static void flops_and_init(void **state) {
    (void)state;
    decoder d;
    if (decoder_open(&d, model_info(256, 3, 16, 1152), NULL, 0)) fail_msg("%s", pd_last_error());
    double f = d.vt->flops(d.state);
    if (f != XL_FLOPS) fail_msg("DeCo-XL decoder FLOPs %.0f, expected %.0f", f, XL_FLOPS);
    decoder_close(&d);

    if (decoder_open(&d, model_info(32, 1, 4, 192), NULL, 0)) fail_msg("%s", pd_last_error());
    f = d.vt->flops(d.state);
    if (f != SMALL_FLOPS) fail_msg("small decoder FLOPs %.0f, expected %.0f", f, SMALL_FLOPS);
    pd_rng rng;
    pd_rng_seed(&rng, 3);
    assert_int_equal(d.vt->init_weights(d.state, &rng), PD_OK);
    /* xavier_uniform on cond_embed (512, 192): bound sqrt(6 / 704); the
     * x_embedder PyTorch-default: 1/sqrt(65); biases of dec_net 0 */
    pd_tensor *cw = pd_params_find(d.params, "decoder.dec_net.cond_embed.weight");
    pd_tensor *ew = pd_params_find(d.params, "decoder.x_embedder.embedder.0.weight");
    pd_tensor *eb = pd_params_find(d.params, "decoder.x_embedder.embedder.0.bias");
    pd_tensor *cb = pd_params_find(d.params, "decoder.dec_net.cond_embed.bias");
    pd_tensor *lw = pd_params_find(d.params, "decoder.dec_net.res_blocks.2.in_ln.weight");
    assert_non_null(cw), assert_non_null(ew), assert_non_null(eb), assert_non_null(cb), assert_non_null(lw);
    double mc = 0, me = 0, mb = 0;
    for (size_t i = 0; i < cw->numel; i++) mc = fmax(mc, fabs(cw->data[i]));
    for (size_t i = 0; i < ew->numel; i++) me = fmax(me, fabs(ew->data[i]));
    for (size_t i = 0; i < eb->numel; i++) mb = fmax(mb, fabs(eb->data[i]));
    assert_true(mc <= sqrt(6.0 / 704) && mc > 0.99 * sqrt(6.0 / 704));
    assert_true(me <= 1 / sqrt(65.0) && me > 0.9 / sqrt(65.0));
    assert_true(mb > 0 && mb <= 1 / sqrt(65.0));
    for (size_t i = 0; i < cb->numel; i++) assert_true(cb->data[i] == 0.0f);
    for (size_t i = 0; i < lw->numel; i++) assert_true(lw->data[i] == 1.0f);
    /* adaLN-Zero and the zero output: a fresh decoder outputs exactly 0,
     * and its output linear still gets a gradient */
    pd_ctx *ctx = pd_ctx_new(0);
    int B = 2;
    pd_tensor *z = pd_tensor_empty(ctx, (int[]){B, 1, 32, 32}, 4);
    pd_tensor *tok = pd_tensor_empty(ctx, (int[]){B, 64, 192}, 3);
    pd_tensor *te = pd_tensor_empty(ctx, (int[]){B, 192}, 2);
    tu_fill(z->data, z->numel, 1), tu_fill(tok->data, tok->numel, 2), tu_fill(te->data, te->numel, 3);
    pd_decoder_inputs in = {.struct_size = sizeof in, .tokens = tok, .t_emb = te,
                            .y_emb = te, .c = te, .t = pd_tensor_zeros(ctx, (int[]){B}, 1), .z = z};
    pd_params_zero_grad(d.params);
    pd_tensor *out = d.vt->forward(d.state, ctx, &in);
    if (!out) fail_msg("%s", pd_ctx_error(ctx));
    for (size_t i = 0; i < out->numel; i++) assert_true(out->data[i] == 0.0f);
    assert_int_equal(pd_backward(ctx, pd_sum(ctx, pd_mul(ctx, out, z))), PD_OK);
    pd_tensor *ow = pd_params_find(d.params, "decoder.dec_net.final_layer.linear.weight");
    double g = 0;
    for (size_t i = 0; i < ow->numel; i++) g = fmax(g, fabs(ow->grad[i]));
    assert_true(g > 0);
    pd_ctx_free(ctx);
    decoder_close(&d);
}

/* ---- errors ------------------------------------------------------------------------------ */

static void shape_and_config_errors(void **state) {
    (void)state;
    decoder d;
    if (decoder_open(&d, model_info(8, 1, 4, 6), NULL, 0)) fail_msg("%s", pd_last_error());
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *z = pd_tensor_zeros(ctx, (int[]){2, 1, 8, 8}, 4);
    pd_tensor *tok = pd_tensor_zeros(ctx, (int[]){2, 5, 6}, 3);
    pd_tensor *te = pd_tensor_zeros(ctx, (int[]){2, 6}, 2);
    pd_decoder_inputs in = {.struct_size = sizeof in, .tokens = tok, .t_emb = te,
                            .y_emb = te, .c = te, .t = pd_tensor_zeros(ctx, (int[]){2}, 1), .z = z};
    assert_null(d.vt->forward(d.state, ctx, &in));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "deco_decoder: tokens (2, 5, 6), expected (2, 4, 6)");
    print_message("  refused: %s\n", pd_ctx_error(ctx));
    pd_ctx_free(ctx);
    decoder_close(&d);
    const char *bad[] = {"width=0"};
    assert_int_not_equal(decoder_open(&d, model_info(8, 1, 4, 6), bad, 1), PD_OK);
    TU_ASSERT_CONTAINS(pd_last_error(), "width");
    print_message("  refused: %s\n", pd_last_error());
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_p4),         cmocka_unit_test(golden_p8),
        cmocka_unit_test(golden_p16),        cmocka_unit_test(golden_p3_odd),
        cmocka_unit_test(dct_table_closed_form), cmocka_unit_test(gradcheck_decoder),
        cmocka_unit_test(param_counts),      cmocka_unit_test(flops_and_init),
        cmocka_unit_test(shape_and_config_errors),
    };
    return decoder_test_main(argc, argv, "deco_decoder.so", tests, sizeof tests / sizeof *tests);
}
