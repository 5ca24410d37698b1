/* Test attention: the host's exact SDPA with the scale multiplied by a key. */
#include <stdlib.h>

#include "pixeldit/plugin.h"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "good_attention"
#endif

typedef struct attention_state {
    const pd_host_api *host;
    float scale_mult;
} attention_state;

static const pd_plugin_key keys[] = {
    {"scale_mult", PD_KEY_FLOAT, "1.0", "multiplies the softmax scale", "0.."},
};

static pd_status create(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, void **state) {
    (void)info;
    attention_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "good_attention: out of memory");
    s->host = host;
    s->scale_mult = (float)host->cfg_float(cfg, "scale_mult");
    *state = s;
    return PD_OK;
}

/* q (B, H, N, d), k, v (B, H, M, d) -> (B, H, N, d) */
static pd_tensor *forward(void *state, pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v,
                          float scale) {
    attention_state *s = state;
    pd_tensor *o = s->host->sdpa(ctx, q, k, v, scale * s->scale_mult);
#ifdef BAD_LAYOUT
    o = s->host->permute(ctx, o, (int[]){0, 2, 1, 3}); /* (B, N, H, d): the contract broken */
#endif
    return o;
}

static void destroy(void *state) { free(state); }

#ifdef WITH_FLOPS
/* A made-up count the host must use instead of exact attention's. */
static double attn_flops(void *state, int B, int H, int N, int M, int d) {
    (void)state, (void)d;
    return 1000.0 * B * H * N * M;
}
#else
#define attn_flops NULL
#endif

static const pd_attention_vtable vtable = {
    .struct_size = sizeof(pd_attention_vtable),
    .create = create,
    .forward = forward,
    .flops = attn_flops,
    .destroy = destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_ATTENTION,
    .name = PLUGIN_NAME,
    .version = "1.0.0",
    .description = "test attention: host SDPA",
    .keys = keys,
    .n_keys = 1,
    .vtable = &vtable,
};

PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entry(void) { return &desc; }
