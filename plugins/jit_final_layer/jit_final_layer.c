/* jit_final_layer: JiT's FinalLayer + unpatchify, the built-in decoder.
 *
 *   shift, scale = Linear(SiLU(c)).chunk(2)           (B, D) each
 *   x = Linear(modulate(RMSNorm(tokens), shift, scale)) (B, N, p*p*C)
 *   x_pred = unpatchify(x)                             (B, C, H, W), JiT order
 *
 * Parameter names are the official ones (final_layer.*), so a default
 * model's checkpoint loads into the PyTorch JiT unchanged. */
#include <stdlib.h>

#include "pixeldit/plugin.h"

typedef struct {
    const pd_host_api *host;
    pd_model_info info;
    pd_tensor *norm_w;        /* (D) */
    pd_tensor *lin_w, *lin_b; /* (p*p*C, D), (p*p*C) */
    pd_tensor *ada_w, *ada_b; /* (2D, D), (2D) */
} final_layer;

static pd_status fl_create(const pd_host_api *host, const pd_model_info *info,
                           const pd_plugin_config *cfg, pd_params *params, void **state) {
    (void)cfg;
    final_layer *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "jit_final_layer: out of memory");
    s->host = host;
    s->info = *info;
    int D = info->hidden_size, out = info->patch_size * info->patch_size * info->channels;
    s->norm_w = host->param_add(params, "final_layer.norm_final.weight", (int[]){D}, 1, 0);
    s->lin_w = host->param_add(params, "final_layer.linear.weight", (int[]){out, D}, 2, 0);
    s->lin_b = host->param_add(params, "final_layer.linear.bias", (int[]){out}, 1, 0);
    s->ada_w = host->param_add(params, "final_layer.adaLN_modulation.1.weight", (int[]){2 * D, D}, 2, 0);
    s->ada_b = host->param_add(params, "final_layer.adaLN_modulation.1.bias", (int[]){2 * D}, 1, 0);
    if (!s->norm_w || !s->lin_w || !s->lin_b || !s->ada_w || !s->ada_b) {
        free(s);
        return PD_ERR_ARG; /* param_add set the message */
    }
    *state = s;
    return PD_OK;
}

/* JiT zero-initialises the modulation and the output linear; RMSNorm = 1. */
static pd_status fl_init(void *state, pd_rng *rng) {
    (void)rng;
    final_layer *s = state;
    for (size_t i = 0; i < s->norm_w->numel; i++) s->norm_w->data[i] = 1.0f;
    pd_tensor *zero[4] = {s->lin_w, s->lin_b, s->ada_w, s->ada_b};
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < zero[k]->numel; i++) zero[k]->data[i] = 0.0f;
    return PD_OK;
}

static pd_tensor *fl_forward(void *state, pd_ctx *ctx, const pd_decoder_inputs *in) {
    final_layer *s = state;
    const pd_host_api *h = s->host;
    int D = s->info.hidden_size;
    pd_tensor *mod = h->linear(ctx, h->silu(ctx, in->c), s->ada_w, s->ada_b); /* (B, 2D) */
    pd_tensor *shift = h->slice(ctx, mod, 1, 0, D), *scale = h->slice(ctx, mod, 1, D, D);
    pd_tensor *x = h->modulate(ctx, h->rmsnorm(ctx, in->tokens, s->norm_w, 1e-6f), shift, scale);
    x = h->linear(ctx, x, s->lin_w, s->lin_b);                              /* (B, N, p*p*C) */
    return h->unpatchify(ctx, x, s->info.channels, s->info.image_size, s->info.image_size,
                         s->info.patch_size, PD_PATCH_JIT);                 /* (B, C, H, W) */
}

static double fl_flops(void *state) {
    final_layer *s = state;
    double D = s->info.hidden_size, out = (double)s->info.patch_size * s->info.patch_size * s->info.channels;
    return 2.0 * D * 2 * D + 2.0 * s->info.num_tokens * D * out;
}

static void fl_destroy(void *state) { free(state); }

static const pd_decoder_vtable vtable = {
    .struct_size = sizeof(pd_decoder_vtable),
    .create = fl_create,
    .init_weights = fl_init,
    .forward = fl_forward,
    .flops = fl_flops,
    .destroy = fl_destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_DECODER,
    .name = "jit_final_layer",
    .version = "1.0.0",
    .description = "JiT final layer (adaLN shift/scale, RMSNorm, linear) + unpatchify (the default decoder)",
    .vtable = &vtable,
};

PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entry(void) { return &desc; }
