/* gated_pixel_decoder - a pixeldit decoder plugin built out of tree: each
 * token becomes a p x p patch of K features, and every pixel then goes
 * through a gated MLP (two 1x1 convolutions with a sigmoid gate, a GLU)
 * before a 3x3 convolution mixes neighbours into the C output channels:
 *
 *   f = unpatchify(proj(tokens))          (B, K, H, W)
 *   a, b = split(ff(f))                   (B, E, H, W) each, ff a 1x1 conv K -> 2E
 *   x_pred = out(a * sigmoid(b))          (B, C, H, W), out a 3x3 conv E -> C
 *
 * None of the in-tree decoders gates per pixel. reference.py is the same
 * decoder as a torch module; -DWRONG_FORMULA builds a deliberately wrong
 * gate, sigmoid(a) * b, whose backward is still consistent with it: the
 * gradient check passes it and only the parity check against the
 * reference catches it (test_example.sh in pixeldit's suite shows both). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <pixeldit/plugin.h>

typedef struct gated_pixel {
    const pd_host_api *host;
    pd_tensor *proj_w, *proj_b; /* (p*p*K, D), (p*p*K) */
    pd_tensor *ff_w, *ff_b;     /* (2E, K, 1, 1), (2E) */
    pd_tensor *out_w, *out_b;   /* (C, E, 3, 3), (C) */
    int C, H, W, p, K, E;
    float init_std;
} gated_pixel;

static const pd_plugin_key keys[] = {
    {.name = "features", .type = PD_KEY_INT, .default_value = "8",
     .help = "K: features per pixel after the token projection", .allowed = "1..256"},
    {.name = "hidden", .type = PD_KEY_INT, .default_value = "16",
     .help = "E: width of the gated per-pixel MLP", .allowed = "1..1024"},
    {.name = "init_std", .type = PD_KEY_FLOAT, .default_value = "0.02",
     .help = "std of the initial proj and ff weights (out starts at zero)", .allowed = "0..1"},
};

static pd_status create(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, pd_params *params, void **state) {
    /* sigmoid is a host op of ABI 1.1 */
    if (host->struct_size < offsetof(pd_host_api, sigmoid) + sizeof host->sigmoid)
        return host->fail(PD_ERR_PLUGIN, "gated_pixel_decoder: needs a pixeldit with ABI 1.1");
    gated_pixel *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "gated_pixel_decoder: out of memory");
    *s = (gated_pixel){.host = host, .C = info->channels, .H = info->image_size,
                       .W = info->image_size, .p = info->patch_size,
                       .K = (int)host->cfg_int(cfg, "features"), .E = (int)host->cfg_int(cfg, "hidden"),
                       .init_std = (float)host->cfg_float(cfg, "init_std")};
    int P = s->p * s->p * s->K;
    s->proj_w = host->param_add(params, "decoder.proj.weight", (int[]){P, info->hidden_size}, 2, 0);
    s->proj_b = host->param_add(params, "decoder.proj.bias", (int[]){P}, 1, 0);
    s->ff_w = host->param_add(params, "decoder.ff.weight", (int[]){2 * s->E, s->K, 1, 1}, 4, 0);
    s->ff_b = host->param_add(params, "decoder.ff.bias", (int[]){2 * s->E}, 1, 0);
    s->out_w = host->param_add(params, "decoder.out.weight", (int[]){s->C, s->E, 3, 3}, 4, 0);
    s->out_b = host->param_add(params, "decoder.out.bias", (int[]){s->C}, 1, 0);
    if (!s->proj_w || !s->proj_b || !s->ff_w || !s->ff_b || !s->out_w || !s->out_b) {
        free(s); /* the host has set the message */
        return PD_ERR_PLUGIN;
    }
    *state = s;
    return PD_OK;
}

/* proj and ff random, out zero: a fresh decoder predicts 0 (JiT's convention) */
static pd_status init_weights(void *state, pd_rng *rng) {
    gated_pixel *s = state;
    s->host->rng_normal(rng, s->proj_w->data, s->proj_w->numel, 0.0f, s->init_std);
    s->host->rng_normal(rng, s->ff_w->data, s->ff_w->numel, 0.0f, s->init_std);
    memset(s->proj_b->data, 0, s->proj_b->numel * sizeof(float));
    memset(s->ff_b->data, 0, s->ff_b->numel * sizeof(float));
    memset(s->out_w->data, 0, s->out_w->numel * sizeof(float));
    memset(s->out_b->data, 0, s->out_b->numel * sizeof(float));
    return PD_OK;
}

static pd_tensor *forward(void *state, pd_ctx *ctx, const pd_decoder_inputs *in) {
    gated_pixel *s = state;
    const pd_host_api *h = s->host;
    pd_tensor *f = h->unpatchify(ctx, h->linear(ctx, in->tokens, s->proj_w, s->proj_b), s->K, s->H,
                                 s->W, s->p, PD_PATCH_JIT);            /* (B, K, H, W) */
    pd_tensor *ab = h->conv2d(ctx, f, s->ff_w, s->ff_b, 1, 0);         /* (B, 2E, H, W) */
    pd_tensor *a = h->slice(ctx, ab, 1, 0, s->E);                      /* (B, E, H, W) */
    pd_tensor *b = h->slice(ctx, ab, 1, s->E, s->E);                   /* (B, E, H, W) */
#ifdef WRONG_FORMULA
    pd_tensor *g = h->mul(ctx, h->sigmoid(ctx, a), b);                 /* the gate on the wrong half */
#else
    pd_tensor *g = h->mul(ctx, a, h->sigmoid(ctx, b));                 /* (B, E, H, W) */
#endif
    return h->conv2d(ctx, g, s->out_w, s->out_b, 1, 1);               /* (B, C, H, W) */
}

/* per image: proj 2 N D (p*p*K) = 2 HW D K, ff 2 HW K 2E, out 2 HW 9E C, the gate ~4 HW E */
static double flops(void *state) {
    const gated_pixel *s = state;
    double hw = (double)s->H * s->W, D = (double)s->proj_w->shape[1];
    return 2.0 * hw * (D * s->K + 2.0 * s->E * s->K + 9.0 * s->E * s->C) + 4.0 * hw * s->E;
}

static void destroy(void *state) { free(state); }

static const pd_decoder_vtable vtable = {
    .struct_size = sizeof(pd_decoder_vtable),
    .create = create,
    .init_weights = init_weights,
    .forward = forward,
    .flops = flops,
    .destroy = destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_DECODER,
    .name = "gated_pixel_decoder",
    .version = "0.1.0",
    .description = "tokens to per-pixel features, a gated 1x1 MLP and a 3x3 conv (example)",
    .keys = keys,
    .n_keys = (int)(sizeof keys / sizeof keys[0]),
    .vtable = &vtable,
};

PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entry(void) { return &desc; }
