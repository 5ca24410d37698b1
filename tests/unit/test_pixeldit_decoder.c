/* The pixeldit_decoder plugin (PixelDiT's pixel pathway,
 * docs/pixeldit_decoder.md), loaded through the plugin loader the way
 * pixeldit loads it:
 *   - PyTorch parity: output and every gradient against the goldens of
 *     tests/golden/make_pixeldit_goldens.py (pre- and post-modulation at
 *     p = 4 and p = 8, and no abs-PE with the JiT RoPE);
 *   - finite-difference gradcheck of the whole decoder, both modulation
 *     variants;
 *   - parameter counts against spec 1.3's formulas and PyTorch's, the FLOPs
 *     per image (small preset, PixelDiT-XL/16 at 256^2);
 *   - the attention goes through the host's `attention` entry: the kernel
 *     bound on the ctx runs, pd_sdpa when none is;
 *   - init (zero AdaLN and final layer, PyTorch default elsewhere) and
 *     config errors.
 * Argument: the full path of pixeldit_decoder.so.
 *
 * Errors are max |c - t| / max |t| over a whole tensor. Tolerance 1e-5:
 * fp32 throughout, the differences come from summation order and 1-ulp
 * differences of sin/cos in the tables. */
#include "ctx_attention.h"
#include "pixeldit/session.h"

#define TOL_OUT 1e-5
#define TOL_GRAD 1e-5
#define DECODER_GOLDEN_DIR "pixeldit"
#include "decoder_test_util.h"

/* make_pixeldit_goldens.py prints these (PyTorch modules, hooks on nn.Linear). */
#define TORCH_PARAMS_SMALL 1090337       /* C 1, 32^2, p 4, D 192, 3 heads, defaults */
#define TORCH_PARAMS_SMALL_POST 892705   /* the same, post_modulation */
#define TORCH_PARAMS_XL16 172361859      /* C 3, 256^2, p 16, D 1152, 16 heads, 4 blocks */
#define TORCH_PARAMS_B16 55115363        /* C 3, 256^2, p 16, D 768, 12 heads, 2 blocks */
#define SMALL_FLOPS 153157632.0
#define XL16_FLOPS 90475331584.0         /* spec 1.3: 4 x 11.3 GMAC = "90 of 310 GFLOPs" */
#define B16_FLOPS 29137829888.0

/* Forward with the given inputs (y_emb, c, t unused by this decoder: zeros). */
static pd_tensor *decoder_run(decoder *d, pd_ctx *ctx, pd_tensor *z, pd_tensor *tokens,
                              pd_tensor *t_emb) {
    int B = z->shape[0], D = d->info.hidden_size;
    pd_tensor *zero = pd_tensor_zeros(ctx, (int[]){B, D}, 2), *t = pd_tensor_zeros(ctx, (int[]){B}, 1);
    pd_decoder_inputs in = {.struct_size = sizeof in, .tokens = tokens, .t_emb = t_emb,
                             .y_emb = zero, .c = zero, .t = t, .z = z};
    return d->vt->forward(d->state, ctx, &in);
}

/* Creates the case's decoder with the keys of its metadata and loads every
 * golden weight into it; the file must hold exactly the plugin's parameters. */
static void open_case(const char *name, decoder *d, pd_st_file **weights, pd_st_file **data) {
    static const char *const keys[] = {"pixel_depth", "pixel_dim", "attn_dim", "heads",
                                       "mlp_ratio", "post_modulation", "abs_pe", "rope"};
    open_golden_case(name, keys, 8, d, weights, data);
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
    pd_tensor *gy = golden_tensor(ctx, f, "gy", img, 4, false);

    pd_params_zero_grad(d.params);
    pd_tensor *out = decoder_run(&d, ctx, z, tokens, t_emb);
    if (!out) fail_msg("%s: forward: %s", name, pd_ctx_error(ctx));
    assert_memory_equal(out->shape, img, sizeof img);
    double e_out = expect_golden(f, "out", img, 4, out->data, TOL_OUT);

    double e_grad = golden_backward_params(ctx, &d, f, out, gy);
    e_grad = fmax(e_grad, expect_grad(f, "tokens", tokens));
    e_grad = fmax(e_grad, expect_grad(f, "t_emb", t_emb));
    print_message("  %-20s out err %.2e, worst gradient err %.2e (%d parameters, tokens, t_emb)\n",
                  name, e_out, e_grad, pd_params_count(d.params));

    pd_ctx_free(ctx);
    pd_st_close(w), pd_st_close(f);
    decoder_close(&d);
}

static void golden_p4_pre(void **state) { (void)state; run_golden("pxd_p4_pre"); }
static void golden_p4_post(void **state) { (void)state; run_golden("pxd_p4_post"); }
static void golden_p8_pre(void **state) { (void)state; run_golden("pxd_p8_pre"); }
static void golden_p8_post(void **state) { (void)state; run_golden("pxd_p8_post"); }
static void golden_jitrope_nope(void **state) { (void)state; run_golden("pxd_p4_jitrope_nope"); }

/* ---- finite differences --------------------------------------------------------------- */

static pd_tensor *decoder_fn(pd_ctx *ctx, pd_tensor *const *x, int n, void *user) {
    (void)n;
    return decoder_run(user, ctx, x[2], x[0], x[1]);
}

/* tokens, t_emb (checked), z (not: it has no gradient in pixeldit) and every
 * parameter, on a tiny config (8 x 8, p 4, 2 blocks) with every parameter
 * random: the zero-initialised AdaLN and final layer would leave most
 * gradients trivially zero. */
static void gradcheck_case(const char *const *kv, int n, int C, uint64_t seed) {
    decoder d;
    pd_model_info info = model_info_heads(8, C, 4, 8, 2);
    if (decoder_open(&d, info, kv, n)) fail_msg("%s", pd_last_error());
    for (int i = 0; i < pd_params_count(d.params); i++) {
        pd_tensor *p = pd_params_at(d.params, i);
        tu_fill(p->data, p->numel, seed + i);
        bool norm = strstr(p->name, "norm") != NULL;
        for (size_t j = 0; j < p->numel; j++) /* moderate: float32 differences stay accurate */
            p->data[j] = norm ? 1.0f + 0.2f * p->data[j] : 0.5f * p->data[j];
    }
    int B = 2, D = 8, L = info.num_tokens;
    float tok[2 * 4 * 8], te[2 * 8], z[2 * 2 * 8 * 8];
    tu_fill(tok, sizeof tok / sizeof *tok, seed + 100);
    tu_fill(te, sizeof te / sizeof *te, seed + 101);
    tu_fill(z, (size_t)B * C * 64, seed + 103);
    pd_gradcheck_input in[3] = {{tok, (int[]){B, L, D}, 3, true},
                                {te, (int[]){B, D}, 2, true},
                                {z, (int[]){B, C, 8, 8}, 4, false}};
    pd_gradcheck_opts o = pd_gradcheck_defaults();
    o.params = d.params;
    o.max_checks = 24;
    TU_GRADCHECK(decoder_fn, &d, in, 3, &o);
    decoder_close(&d);
}

static void gradcheck_pre(void **state) {
    (void)state;
    const char *kv[] = {"pixel_depth=2", "pixel_dim=4", "attn_dim=8", "mlp_ratio=2"};
    gradcheck_case(kv, 4, 2, 31);
}

static void gradcheck_post(void **state) {
    (void)state;
    const char *kv[] = {"pixel_depth=2", "pixel_dim=4", "attn_dim=8", "mlp_ratio=2",
                        "post_modulation=true"};
    gradcheck_case(kv, 5, 1, 47);
}

/* ---- sizes, flops, init -------------------------------------------------------------------- */

/* Spec 1.3 (code-verified): per PiT block, AdaLN D -> n P Dp with bias,
 * norms 2 Dp, compaction P Dp -> Da and expansion Da -> P Dp with biases,
 * attention qkv 3 Da^2 (no bias) + proj Da^2 + Da + qk-norm 2 hd, MLP
 * Dp -> r Dp -> Dp with biases; pixel embedder C -> Dp, final RMSNorm and
 * Dp -> C. */
static double spec_params(int C, int p, int D, int heads, int depth, int Dp, int Da, int hidden,
                          int n_mod) {
    double P = (double)p * p, PD = P * Dp;
    double block = (double)D * n_mod * PD + n_mod * PD + 2.0 * Dp + (PD * Da + Da) + (Da * PD + PD) +
                   (4.0 * Da * Da + Da + 2.0 * (Da / heads)) + (2.0 * Dp * hidden + hidden + Dp);
    return (double)C * Dp + Dp + depth * block + Dp + (double)Dp * C + C;
}

static size_t count_params(pd_model_info info, const char *const *kv, int n, double *flops) {
    decoder d;
    if (decoder_open(&d, info, kv, n)) fail_msg("%s", pd_last_error());
    size_t numel = pd_params_numel(d.params, true);
    if (flops) *flops = d.vt->flops(d.state);
    decoder_close(&d);
    return numel;
}

static void param_counts_and_flops(void **state) {
    (void)state;
    pd_model_info small = model_info_heads(32, 1, 4, 192, 3), xl = model_info_heads(256, 3, 16, 1152, 16);
    pd_model_info b16 = model_info_heads(256, 3, 16, 768, 12);
    const char *post[] = {"post_modulation=true"}, *m4[] = {"pixel_depth=4"};
    double f_small, f_xl, f_b;
    size_t n_small = count_params(small, NULL, 0, &f_small);
    size_t n_xl = count_params(xl, m4, 1, &f_xl);
    size_t n_b = count_params(b16, NULL, 0, &f_b);
    assert_int_equal(n_small, TORCH_PARAMS_SMALL);
    assert_int_equal(count_params(small, post, 1, NULL), TORCH_PARAMS_SMALL_POST);
    assert_int_equal(n_xl, TORCH_PARAMS_XL16);
    assert_int_equal(n_b, TORCH_PARAMS_B16);
    assert_true(n_small == spec_params(1, 4, 192, 3, 2, 16, 192, 64, 6));
    assert_true(count_params(small, post, 1, NULL) == spec_params(1, 4, 192, 3, 2, 16, 192, 64, 4));
    assert_true(n_xl == spec_params(3, 16, 1152, 16, 4, 16, 1152, 64, 6));
    /* spec 1.3: 28.3M of AdaLN and 43.1M per block, 172M for the 4 blocks */
    double ada = 1152.0 * 24576 + 24576, block = (n_xl - spec_params(3, 16, 1152, 16, 0, 16, 1152, 64, 6)) / 4.0;
    assert_true(fabs(ada - 28.3e6) < 0.05e6 && fabs(block - 43.1e6) < 0.05e6);
    assert_true(fabs((double)n_xl - 172e6) < 0.5e6);
    if (f_small != SMALL_FLOPS) fail_msg("small FLOPs %.0f, expected %.0f", f_small, SMALL_FLOPS);
    if (f_xl != XL16_FLOPS) fail_msg("XL/16 FLOPs %.0f, expected %.0f", f_xl, XL16_FLOPS);
    if (f_b != B16_FLOPS) fail_msg("B/16 FLOPs %.0f, expected %.0f", f_b, B16_FLOPS);
    /* spec 1.3: 11.3 GMAC per block at 256^2, 90 of the 310 GFLOPs */
    assert_true(fabs(f_xl / 4 / 2 - 11.3e9) < 0.05e9 && fabs(f_xl - 90e9) < 0.5e9);
    print_message("  small %zu params %.1f MFLOPs; XL/16 %zu params %.2f GFLOPs\n", n_small,
                  f_small / 1e6, n_xl, f_xl / 1e9);
}

/* Zero AdaLN and final linear (x_pred = 0 at init), RMSNorm weights 1,
 * nn.Linear default U(+-1/sqrt(in)) elsewhere; with post-modulation the
 * blocks are not the identity at init (spec 1.3). */
static void init_values(void **state) {
    (void)state;
    decoder d;
    const char *kv[] = {"post_modulation=true", "pixel_dim=8", "attn_dim=16"};
    if (decoder_open(&d, model_info_heads(16, 1, 4, 16, 2), kv, 3)) fail_msg("%s", pd_last_error());
    pd_rng rng;
    pd_rng_seed(&rng, 3);
    assert_int_equal(d.vt->init_weights(d.state, &rng), PD_OK);
    for (int i = 0; i < pd_params_count(d.params); i++) {
        pd_tensor *p = pd_params_at(d.params, i);
        double mx = 0;
        for (size_t j = 0; j < p->numel; j++) mx = fmax(mx, fabs(p->data[j]));
        if (strstr(p->name, "adaLN") || strstr(p->name, "final_layer.linear"))
            assert_true(mx == 0);
        else if (strstr(p->name, "norm"))
            for (size_t j = 0; j < p->numel; j++) assert_true(p->data[j] == 1.0f);
        else { /* a linear's weight (out, in) or bias: U(+-1/sqrt(in)) */
            char wname[160];
            snprintf(wname, sizeof wname, "%.*s.weight", (int)(strrchr(p->name, '.') - p->name),
                     p->name);
            double bound = 1.0 / sqrt(pd_params_find(d.params, wname)->shape[1]);
            assert_true(mx <= bound && mx > (p->numel > 32 ? 0.5 : 0.01) * bound);
        }
    }
    pd_ctx *ctx = pd_ctx_new(0);
    float zb[2 * 256], tb[2 * 16 * 16], eb[2 * 16];
    tu_fill(zb, 512, 1), tu_fill(tb, 512, 2), tu_fill(eb, 32, 3);
    pd_tensor *z = pd_tensor_from(ctx, zb, (int[]){2, 1, 16, 16}, 4);
    pd_tensor *tok = pd_tensor_from(ctx, tb, (int[]){2, 16, 16}, 3);
    pd_tensor *te = pd_tensor_from(ctx, eb, (int[]){2, 16}, 2);
    pd_tensor *out = decoder_run(&d, ctx, z, tok, te);
    assert_non_null(out);
    for (size_t j = 0; j < out->numel; j++) assert_true(out->data[j] == 0.0f);
    pd_ctx_free(ctx);
    decoder_close(&d);
}

/* ---- the host's attention entry ------------------------------------------------------------ */

static int g_calls;

/* A stand-in attention plugin: counts its calls and returns 2 x sdpa, so
 * the output shows whether it ran. */
static pd_tensor *counting_attention(void *state, pd_ctx *ctx, pd_tensor *q, pd_tensor *k,
                                     pd_tensor *v, float scale) {
    (void)state;
    g_calls++;
    return pd_affine(ctx, pd_sdpa(ctx, q, k, v, scale), 2.0f, 0.0f);
}

static void attention_goes_through_host(void **state) {
    (void)state;
    decoder d;
    pd_st_file *w, *f;
    open_case("pxd_p4_pre", &d, &w, &f);
    const pd_model_info *m = &d.info;
    int B = pd_st_find(f, "z")->shape[0], H = m->image_size, D = m->hidden_size;
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *z = golden_tensor(ctx, f, "z", (int[]){B, m->channels, H, H}, 4, false);
    pd_tensor *tok = golden_tensor(ctx, f, "tokens", (int[]){B, m->num_tokens, D}, 3, false);
    pd_tensor *te = golden_tensor(ctx, f, "t_emb", (int[]){B, D}, 2, false);
    pd_tensor *plain = decoder_run(&d, ctx, z, tok, te);   /* nothing bound: sdpa */
    g_calls = 0;
    pd_attention_binding old = pd_ctx_bind_attention(ctx, (pd_attention_binding){counting_attention, NULL});
    assert_null(old.fn);
    pd_tensor *bound = decoder_run(&d, ctx, z, tok, te);
    pd_ctx_bind_attention(ctx, old);
    assert_non_null(plain), assert_non_null(bound);
    assert_int_equal(g_calls, meta_int(w, "pixel_depth"));
    double diff = 0;
    for (size_t i = 0; i < plain->numel; i++) diff = fmax(diff, fabs(plain->data[i] - bound->data[i]));
    assert_true(diff > 1e-3); /* the bound kernel's output reached x_pred */
    /* a nested call from inside the bound kernel gets sdpa, not itself */
    assert_null(pd_ctx_bound_attention(ctx).fn);
    pd_ctx_free(ctx);
    pd_st_close(w), pd_st_close(f);
    decoder_close(&d);
}

/* pd_jit_forward binds the model's attention plugin over whatever the ctx
 * had, for its whole forward (decoder included), and restores it after:
 * a kernel bound beforehand is never called. */
static void model_binds_its_attention(void **state) {
    (void)state;
    pd_config cfg;
    pd_config_defaults(&cfg);
    const char *sets[] = {"model.image_size=8", "model.channels=1", "model.patch_size=4",
                          "model.hidden_size=16", "model.num_heads=2", "model.bottleneck_dim=4",
                          "model.depth=2", "model.in_context_len=0", "model.num_classes=3",
                          "decoder.plugin=pixeldit_decoder", "attention.plugin=sdpa"};
    if (pd_config_set_all(&cfg, sets, 11)) fail_msg("%s", pd_last_error());
    pd_session s;
    if (pd_session_open(&s, &cfg)) fail_msg("%s", pd_last_error());
    assert_int_equal(pd_jit_init_weights(s.model, 1), PD_OK);
    float z[2 * 64], t[2] = {0.3f, 0.6f};
    int labels[2] = {0, 3};
    tu_fill(z, 2 * 64, 3);
    pd_ctx *ctx = pd_ctx_new(0);
    pd_attention_binding mine = {counting_attention, NULL};
    pd_ctx_bind_attention(ctx, mine);
    g_calls = 0;
    pd_tensor *x = pd_jit_forward(s.model, ctx, pd_tensor_from(ctx, z, (int[]){2, 1, 8, 8}, 4), t,
                                  labels, NULL);
    if (!x) fail_msg("%s", pd_ctx_error(ctx));
    assert_int_equal(g_calls, 0);
    assert_ptr_equal(pd_ctx_bound_attention(ctx).fn, counting_attention);
    pd_ctx_free(ctx);
    pd_session_close(&s);
}

/* By name (the build tree's plugin folder) it is the file given by path. */
static void loads_by_name(void **state) {
    (void)state;
    pd_plugin *by_path = plugin(), *by_name = NULL;
    if (pd_plugin_load("pixeldit_decoder", PD_PLUGIN_DECODER, &by_name)) fail_msg("%s", pd_last_error());
    assert_ptr_equal(by_path, by_name);
}

/* ---- config errors -------------------------------------------------------------------- */

static void bad_keys(void **state) {
    (void)state;
    pd_model_info info = model_info_heads(32, 1, 4, 192, 3);
    const char *dim[] = {"pixel_dim=6"};
    expect_create_error(info, dim, 1, "pixel_dim 6", "multiple of 4");
    const char *heads[] = {"heads=5"};
    expect_create_error(info, heads, 1, "attn_dim 192", "heads 5");
    const char *hd[] = {"attn_dim=24", "heads=4"};
    expect_create_error(info, hd, 2, "24 / 4 = 6", "multiple of 4");
    const char *deep[] = {"pixel_depth=65"};
    expect_create_error(info, deep, 1, "pixel_depth", "65");
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_p4_pre),       cmocka_unit_test(golden_p4_post),
        cmocka_unit_test(golden_p8_pre),       cmocka_unit_test(golden_p8_post),
        cmocka_unit_test(golden_jitrope_nope), cmocka_unit_test(gradcheck_pre),
        cmocka_unit_test(gradcheck_post),      cmocka_unit_test(param_counts_and_flops),
        cmocka_unit_test(init_values),         cmocka_unit_test(attention_goes_through_host),
        cmocka_unit_test(model_binds_its_attention), cmocka_unit_test(loads_by_name),       cmocka_unit_test(bad_keys),
    };
    return decoder_test_main(argc, argv, "pixeldit_decoder.so", tests, sizeof tests / sizeof *tests);
}
