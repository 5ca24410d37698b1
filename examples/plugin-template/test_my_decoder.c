/* test_my_decoder PATH/my_decoder.so: a decoder plugin's test, to copy
 * with your plugin. Loads the plugin the way pixeldit does, then checks
 *   1. the output contract: x_pred is exactly (B, C, H, W) for several B,
 *      through the host's own checked call (pd_plugin_decoder_forward);
 *   2. determinism: the same weights and inputs give bit-identical x_pred,
 *      and the same seed gives the same weights;
 *   3. some gradient reaches the parameters (x_pred depends on them), then,
 *      with every parameter redrawn (pd_gradcheck_randomise_params), gradients
 *      by finite differences (pd_gradcheck): tokens, t_emb, c and every
 *      parameter the decoder registered.
 * The gradient check cannot see a wrong formula whose backward matches it:
 * the parity test (pixeldit plugin-check my_decoder.so
 * my_decoder.ref.safetensors, written by reference.py) can.
 * Change PLUGIN, SETTINGS and the model size below for your decoder. Links
 * libpixeldit; the plugin itself does not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pixeldit/gradcheck.h>
#include <pixeldit/parity.h>
#include <pixeldit/plugin_host.h>

#define PLUGIN "test_my_decoder"
/* as if a config said `[decoder] init_std = 0.5` (large, so the gradients are not tiny) */
static const pd_plugin_setting SETTINGS[] = {{"init_std", "0.5", "test", 0}};

/* A tiny model: 8x8 RGB images, patch 4 (2x2 tokens), width 16, 2 heads. */
static const pd_model_info info = {
    .struct_size = sizeof info, .image_size = 8, .channels = 3, .patch_size = 4, .grid = 2,
    .num_tokens = 4, .hidden_size = 16, .num_heads = 2, .head_dim = 8, .depth = 1,
    .num_classes = 10, .t_eps = 0.05f, .noise_scale = 1.0f,
};

typedef struct decoder_under_test {
    const pd_plugin *pl;
    void *state;
    pd_params *params;
} decoder_under_test;

static int fail(const char *what) {
    fprintf(stderr, PLUGIN ": %s: %s\n", what, pd_last_error());
    return 1;
}

static void fill(float *x, size_t n, uint64_t seed) {
    pd_rng rng;
    pd_rng_seed(&rng, seed);
    pd_rng_fill_uniform(&rng, x, n, -1.0f, 1.0f);
}

/* The decoder's inputs for batch B from the buffers in[] (tokens, t_emb, c,
 * z): x_pred through the host's checked call. y_emb and t are fixed. */
static pd_tensor *run(decoder_under_test *d, pd_ctx *ctx, pd_tensor *const *in) {
    int B = in[0]->shape[0], D = info.hidden_size;
    pd_decoder_inputs di = {
        .struct_size = sizeof di,
        .tokens = in[0],                                    /* (B, N, D) */
        .t_emb = in[1],                                     /* (B, D) */
        .y_emb = pd_tensor_zeros(ctx, (int[]){B, D}, 2),    /* (B, D) */
        .c = in[2],                                         /* (B, D) */
        .t = pd_tensor_zeros(ctx, (int[]){B}, 1),           /* (B,) */
        .z = in[3],                                         /* (B, C, H, W) */
        .rng = NULL,                                        /* eval mode */
    };
    return pd_plugin_decoder_forward(d->pl, d->state, ctx, &di);
}

static pd_tensor *run_fn(pd_ctx *ctx, pd_tensor *const *in, int n, void *user) {
    (void)n;
    return run(user, ctx, in);
}

/* Inputs for batch B (seeded), as host buffers. */
typedef struct inputs {
    float *buf[4];
    int shape[4][4];
    int ndim[4];
} inputs;

static int inputs_make(inputs *x, int B, uint64_t seed) {
    int N = info.num_tokens, D = info.hidden_size, C = info.channels, S = info.image_size;
    const int shapes[4][4] = {{B, N, D}, {B, D}, {B, D}, {B, C, S, S}};
    const int ndims[4] = {3, 2, 2, 4};
    memcpy(x->shape, shapes, sizeof shapes);
    memcpy(x->ndim, ndims, sizeof ndims);
    for (int i = 0; i < 4; i++) {
        size_t n = pd_shape_numel(x->shape[i], x->ndim[i]);
        if (!(x->buf[i] = malloc(n * sizeof(float)))) return 1;
        fill(x->buf[i], n, seed + (uint64_t)i);
    }
    return 0;
}

static void inputs_free(inputs *x) {
    for (int i = 0; i < 4; i++) free(x->buf[i]);
}

/* x_pred for inputs x into out (numel floats); 0 on success. */
static int forward_into(decoder_under_test *d, const inputs *x, float *out, size_t numel) {
    pd_ctx *ctx = pd_ctx_new(0);
    pd_ctx_set_grad_enabled(ctx, false);
    pd_tensor *in[4];
    for (int i = 0; i < 4; i++) in[i] = pd_tensor_from(ctx, x->buf[i], x->shape[i], x->ndim[i]);
    pd_tensor *y = run(d, ctx, in);
    int rc = 1;
    if (!y) fprintf(stderr, PLUGIN ": forward: %s\n", pd_ctx_error(ctx));
    else if (y->ndim != 4 || y->shape[0] != x->shape[3][0] || y->shape[1] != info.channels ||
             y->shape[2] != info.image_size || y->shape[3] != info.image_size)
        fprintf(stderr, PLUGIN ": x_pred has the wrong shape\n"); /* the host call checks it too */
    else if (y->numel != numel) fprintf(stderr, PLUGIN ": x_pred has %zu values, expected %zu\n", y->numel, numel);
    else {
        memcpy(out, y->data, numel * sizeof(float));
        rc = 0;
    }
    pd_ctx_free(ctx);
    return rc;
}

static int create(const pd_plugin *pl, const pd_plugin_config *cfg, uint64_t seed, decoder_under_test *d) {
    *d = (decoder_under_test){.pl = pl, .params = pd_params_new()};
    if (!d->params || pd_plugin_create_decoder(pl, &info, cfg, d->params, &d->state)) return fail("create");
    pd_rng rng;
    pd_rng_seed(&rng, seed);
    if (pd_plugin_decoder_vtable(pl)->init_weights(d->state, &rng)) return fail("init_weights");
    return 0;
}

static void destroy(decoder_under_test *d) {
    if (d->state) pd_plugin_decoder_vtable(d->pl)->destroy(d->state);
    pd_params_free(d->params);
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: " PLUGIN " PATH/decoder.so\n"), 2;
    pd_plugin *pl;
    if (pd_plugin_load(argv[1], PD_PLUGIN_DECODER, &pl)) return fail("load");
    pd_plugin_config *cfg;
    if (pd_plugin_config_build(pl, "decoder", SETTINGS, (int)(sizeof SETTINGS / sizeof *SETTINGS), &cfg))
        return fail("config");
    decoder_under_test d, d2;
    if (create(pl, cfg, 7, &d) || create(pl, cfg, 7, &d2)) return 1;

    /* 1 and 2: shapes for several batch sizes; bit-identical reruns, and a
     * second decoder from the same seed computes the same */
    size_t per = (size_t)info.channels * info.image_size * info.image_size;
    for (int B = 1; B <= 3; B++) {
        inputs x;
        float *a = malloc(B * per * sizeof(float)), *b = malloc(B * per * sizeof(float)),
              *c = malloc(B * per * sizeof(float));
        if (!a || !b || !c || inputs_make(&x, B, 100 + (uint64_t)B)) return fail("out of memory");
        if (forward_into(&d, &x, a, B * per) || forward_into(&d, &x, b, B * per) ||
            forward_into(&d2, &x, c, B * per))
            return 1;
        if (memcmp(a, b, B * per * sizeof(float)))
            return fprintf(stderr, PLUGIN ": two forward passes differ (B %d)\n", B), 1;
        if (memcmp(a, c, B * per * sizeof(float)))
            return fprintf(stderr, PLUGIN ": two decoders from seed 7 differ (B %d)\n", B), 1;
        inputs_free(&x);
        free(a), free(b), free(c);
    }

    /* 3: gradients of tokens, t_emb and c (z has none in pixeldit) and of
     * every parameter */
    inputs x;
    if (inputs_make(&x, 2, 200)) return fail("out of memory");
    pd_gradcheck_input gin[4];
    for (int i = 0; i < 4; i++)
        gin[i] = (pd_gradcheck_input){.data = x.buf[i], .shape = x.shape[i], .ndim = x.ndim[i], .check = i < 3};
    /* the output must depend on the parameters: some gradient reaches them */
    {
        pd_ctx *ctx = pd_ctx_new(0);
        pd_tensor *in[4];
        for (int i = 0; i < 4; i++) in[i] = pd_tensor_from(ctx, x.buf[i], x.shape[i], x.ndim[i]);
        pd_tensor *y = run(&d, ctx, in);
        pd_params_zero_grad(d.params);
        if (!y || pd_backward(ctx, pd_sum(ctx, y)))
            return fprintf(stderr, PLUGIN ": backward: %s\n", pd_ctx_error(ctx)), 1;
        char names[256];
        int trainable, zero = pd_params_zero_grads(d.params, NULL, names, sizeof names, &trainable);
        if (trainable && zero == trainable)
            return fprintf(stderr, PLUGIN ": no gradient reaches any parameter (%s): x_pred does not "
                           "depend on them\n", names), 1;
        pd_ctx_free(ctx);
    }
    /* redraw every parameter: a zero-initialised layer (JiT's convention)
     * would leave the ones before it with zero gradients on both sides,
     * a check that proves nothing */
    pd_gradcheck_randomise_params(d.params, 11, 0.3f);
    pd_gradcheck_opts opts = pd_gradcheck_defaults();
    opts.params = d.params;
    double worst;
    if (pd_gradcheck(run_fn, &d, gin, 4, &opts, &worst)) return fail("gradcheck");
    inputs_free(&x);

    destroy(&d);
    destroy(&d2);
    pd_plugin_config_free(cfg);
    pd_plugins_unload_all();
    printf(PLUGIN " OK (%s: shapes for B 1..3, deterministic, gradcheck worst err/tol %.3f)\n", argv[1], worst);
    return 0;
}
