/* Test decoder for pd_decoder_inputs.rng (ABI 1.1): a per-token linear
 * D -> p*p*C and unpatchify, plus N(0, 1) noise drawn from in->rng when the
 * host passes one (training) and none when it passes NULL. */
#include <stddef.h>
#include <stdlib.h>

#include "pixeldit/plugin.h"

typedef struct noisy_state {
    const pd_host_api *host;
    pd_tensor *w; /* (p*p*C, D) */
    int C, S, p;
} noisy_state;

static void destroy(void *state) { free(state); }

static pd_status create(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, pd_params *params, void **state) {
    (void)cfg;
    noisy_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "noisy_decoder: out of memory");
    s->host = host;
    s->C = info->channels, s->S = info->image_size, s->p = info->patch_size;
    s->w = host->param_add(params, "decoder.proj.weight",
                           (int[]){s->p * s->p * s->C, info->hidden_size}, 2, 0);
    if (!s->w) {
        free(s);
        return PD_ERR_PLUGIN;
    }
    *state = s;
    return PD_OK;
}

static pd_status init_weights(void *state, pd_rng *rng) {
    noisy_state *s = state;
    s->host->rng_normal(rng, s->w->data, s->w->numel, 0.0f, 0.02f);
    return PD_OK;
}

/* tokens (B, N, D) -> x (B, C, H, W), + noise (B, C, H, W) in training */
static pd_tensor *forward(void *state, pd_ctx *ctx, const pd_decoder_inputs *in) {
    noisy_state *s = state;
    const pd_host_api *h = s->host;
    pd_tensor *x = h->unpatchify(ctx, h->linear(ctx, in->tokens, s->w, NULL), s->C, s->S, s->S,
                                 s->p, PD_PATCH_JIT);
    bool has_rng = in->struct_size > offsetof(pd_decoder_inputs, rng) && in->rng;
    if (!x || !has_rng) return x;
    pd_tensor *noise = h->tensor_empty(ctx, x->shape, x->ndim);
    if (!noise) return NULL;
    h->rng_normal(in->rng, noise->data, noise->numel, 0.0f, 1.0f);
    return h->add(ctx, x, noise);
}

static const pd_decoder_vtable vtable = {
    .struct_size = sizeof(pd_decoder_vtable),
    .create = create,
    .init_weights = init_weights,
    .forward = forward,
    .destroy = destroy,
};

static const pd_plugin_desc desc = {
    .abi_major = PD_PLUGIN_ABI_MAJOR,
    .abi_minor = PD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(pd_plugin_desc),
    .kind = PD_PLUGIN_DECODER,
    .name = "noisy_decoder",
    .version = "1.0.0",
    .description = "test decoder: linear head plus noise from the training rng",
    .vtable = &vtable,
};

PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entry(void) { return &desc; }
