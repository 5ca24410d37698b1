/* jit_final_layer: JiT's FinalLayer + unpatchify, the built-in decoder.
 *
 *   shift, scale = Linear(SiLU(c)).chunk(2)           (B, D) each
 *   x = Linear(modulate(RMSNorm(tokens), shift, scale)) (B, N, p*p*C)
 *   x_pred = unpatchify(x)                             (B, C, H, W), JiT order
 *
 * Parameter names are the official ones (final_layer.*), so a default
 * model's checkpoint loads into the PyTorch JiT unchanged. The layer itself
 * is pd_jit_head of plugin_util.h, shared with the decoders that keep it. */
#include <stdlib.h>

#include "pixeldit/plugin.h"
#include "pixeldit/plugin_util.h"

typedef struct {
    const pd_host_api *host;
    pd_model_info info;
    pd_jit_head head; /* final_layer.* */
} final_layer;

static pd_status fl_create(const pd_host_api *host, const pd_model_info *info,
                           const pd_plugin_config *cfg, pd_params *params, void **state) {
    (void)cfg;
    final_layer *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "jit_final_layer: out of memory");
    s->host = host;
    s->info = *info;
    if (!pd_jit_head_add(host, params, "final_layer.", info, &s->head)) {
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
    pd_jit_head_init(&s->head);
    return PD_OK;
}

static pd_tensor *fl_forward(void *state, pd_ctx *ctx, const pd_decoder_inputs *in) {
    final_layer *s = state;
    return pd_jit_head_forward(s->host, ctx, &s->head, &s->info, in->tokens, in->c); /* (B, C, H, W) */
}

static double fl_flops(void *state) {
    final_layer *s = state;
    return pd_jit_head_flops(&s->head, &s->info);
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

PD_PLUGIN_ENTRY(desc)
