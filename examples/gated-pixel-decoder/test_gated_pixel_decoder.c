/* test_gated_pixel_decoder PATH/gated_pixel_decoder.so: the gradient test.
 * Loads the plugin the way pixeldit does, then
 *   1. after init_weights (out starts at zero), a backward reaches at least
 *      one parameter: the output depends on the parameters;
 *   2. with every parameter redrawn (a zero-initialised layer would hide the
 *      layers before it), pd_gradcheck of tokens and every parameter
 *      against finite differences.
 * The gradient check proves the backward matches the forward; only the
 * parity test (pixeldit plugin-check against reference.py) proves the
 * forward is the right formula. */
#include <stdio.h>

#include <pixeldit/gradcheck.h>
#include <pixeldit/parity.h>
#include <pixeldit/plugin_host.h>

/* 8x8 RGB, patch 4 (2x2 tokens), width 16: the reference's model */
static const pd_model_info info = {
    .struct_size = sizeof info, .image_size = 8, .channels = 3, .patch_size = 4, .grid = 2,
    .num_tokens = 4, .hidden_size = 16, .num_heads = 1, .head_dim = 16, .depth = 1,
    .num_classes = 10, .t_eps = 0.05f, .noise_scale = 1.0f,
};
static const pd_plugin_setting settings[] = {
    {.key = "features", .value = "6", .file = "test"}, {.key = "hidden", .value = "5", .file = "test"}};

typedef struct dut {
    const pd_plugin *pl;
    void *state;
} dut;

/* in: tokens (B, N, D), z (B, C, H, W) -> x_pred through the host's checked call */
static pd_tensor *run(pd_ctx *ctx, pd_tensor *const *in, int n, void *user) {
    (void)n;
    dut *d = user;
    int B = in[0]->shape[0], D = info.hidden_size;
    pd_tensor *zero = pd_tensor_zeros(ctx, (int[]){B, D}, 2); /* (B, D): unused by this decoder */
    pd_decoder_inputs di = {.struct_size = sizeof di, .tokens = in[0], .t_emb = zero, .y_emb = zero,
                            .c = zero, .t = pd_tensor_zeros(ctx, (int[]){B}, 1), .z = in[1]};
    return pd_plugin_decoder_forward(d->pl, d->state, ctx, &di);
}

static int fail(const char *what) {
    fprintf(stderr, "test_gated_pixel_decoder: %s: %s\n", what, pd_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: test_gated_pixel_decoder PATH.so\n"), 2;
    pd_plugin *pl;
    pd_plugin_config *cfg;
    if (pd_plugin_load(argv[1], PD_PLUGIN_DECODER, &pl)) return fail("load");
    if (pd_plugin_config_build(pl, "decoder", settings, 2, &cfg)) return fail("config");
    pd_params *params = pd_params_new();
    dut d = {.pl = pl};
    if (pd_plugin_create_decoder(pl, &info, cfg, params, &d.state)) return fail("create");
    pd_rng rng;
    pd_rng_seed(&rng, 7);
    if (pd_plugin_decoder_vtable(pl)->init_weights(d.state, &rng)) return fail("init_weights");

    enum { B = 2 };
    float tokens[B * 4 * 16], z[B * 3 * 8 * 8];
    pd_rng_fill_uniform(&rng, tokens, sizeof tokens / sizeof *tokens, -1.0f, 1.0f);
    pd_rng_fill_uniform(&rng, z, sizeof z / sizeof *z, -1.0f, 1.0f);
    const int tok_shape[] = {B, 4, 16}, z_shape[] = {B, 3, 8, 8};

    /* 1: some gradient reaches the parameters from a fresh init */
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *in[2] = {pd_tensor_from(ctx, tokens, tok_shape, 3), pd_tensor_from(ctx, z, z_shape, 4)};
    pd_tensor *y = run(ctx, in, 2, &d);
    pd_params_zero_grad(params);
    if (!y || pd_backward(ctx, pd_sum(ctx, y))) return fprintf(stderr, "%s\n", pd_ctx_error(ctx)), 1;
    int trainable, zero = pd_params_zero_grads(params, NULL, NULL, 0, &trainable);
    if (zero == trainable)
        return fprintf(stderr, "test_gated_pixel_decoder: no gradient reaches any parameter\n"), 1;
    pd_ctx_free(ctx);

    /* 2: gradcheck with every parameter redrawn */
    pd_gradcheck_randomise_params(params, 11, 0.3f);
    pd_gradcheck_input gin[2] = {{.data = tokens, .shape = tok_shape, .ndim = 3, .check = true},
                                 {.data = z, .shape = z_shape, .ndim = 4, .check = false}};
    pd_gradcheck_opts opts = pd_gradcheck_defaults();
    opts.params = params;
    double worst;
    if (pd_gradcheck(run, &d, gin, 2, &opts, &worst)) return fail("gradcheck");

    pd_plugin_decoder_vtable(pl)->destroy(d.state);
    pd_params_free(params);
    pd_plugin_config_free(cfg);
    pd_plugins_unload_all();
    printf("gated_pixel_decoder gradients OK (%s: gradcheck worst err/tol %.3f)\n", argv[1], worst);
    return 0;
}
