/* unet_decoder: DiP's Patch Detailer Head (arXiv 2511.18822, spec
 * pixeldit_dip.md 2) as a decoder plugin: a small conv U-Net per p x p
 * patch of the noisy input, with the backbone token concatenated at the
 * bottleneck. Keys, create, flops, destroy and the descriptor; the plan,
 * the parameters and the forward pass are in the other files of this
 * folder. Documentation: docs/unet_decoder.md. */
#include <stdlib.h>
#include <string.h>

#include "unet_decoder.h"

static const pd_plugin_key keys[] = {
    {"mode", PD_KEY_ENUM, "replace",
     "replace: the head's output is x_pred (DiP); residual: x_pred = JiT final layer + head",
     "replace|residual"},
    {"base_width", PD_KEY_INT, "64", "channels w of enc1 (DiP: 64)", "4..1024"},
    {"stages", PD_KEY_INT, "0",
     "down/up stages; 0 = log2(patch_size) (1x1 bottleneck), fewer leave a larger one", "0..10"},
    {"max_width_mult", PD_KEY_INT, "8",
     "channel cap as a multiple of base_width (stage k has w*min(2^(k-1), cap); DiP p=16: 8w)",
     "1..256"},
    {"out_init", PD_KEY_ENUM, "zero",
     "zero: output conv starts at 0 (x_pred = 0 like JiT); default: PyTorch init as DiP",
     "zero|default"},
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

static pd_status unet_create(const pd_host_api *host, const pd_model_info *info,
                             const pd_plugin_config *cfg, pd_params *params, void **state) {
    unet_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "unet_decoder: out of memory");
    s->host = host;
    s->info = *info;
    const char *mode = host->cfg_string(cfg, "mode"), *out_init = host->cfg_string(cfg, "out_init");
    s->mode = mode && !strcmp(mode, "residual") ? UNET_RESIDUAL : UNET_REPLACE;
    s->out_zero = !out_init || !strcmp(out_init, "zero");
    pd_status st = unet_plan_make(host, info, (int)host->cfg_int(cfg, "base_width"),
                                  (int)host->cfg_int(cfg, "stages"),
                                  (int)host->cfg_int(cfg, "max_width_mult"), &s->plan);
    if (!st) st = unet_params_register(s, params);
    if (st) {
        free(s); /* the host does not call destroy after a failed create */
        return st;
    }
    *state = s;
    return PD_OK;
}

static pd_status unet_init_weights(void *state, pd_rng *rng) {
    unet_params_init(state, rng);
    return PD_OK;
}

static pd_tensor *unet_forward_cb(void *state, pd_ctx *ctx, const pd_decoder_inputs *in) {
    return unet_forward(state, ctx, in);
}

/* The head, plus JiT's final layer in residual mode (as jit_final_layer counts it). */
static double unet_flops(void *state) {
    const unet_state *s = state;
    double f = unet_plan_flops(&s->plan);
    if (s->mode == UNET_RESIDUAL) f += pd_jit_head_flops(&s->fl, &s->info);
    return f;
}

static void unet_destroy(void *state) { free(state); }

static const pd_decoder_vtable vtable = {
    .struct_size = sizeof(pd_decoder_vtable),
    .create = unet_create,
    .init_weights = unet_init_weights,
    .forward = unet_forward_cb,
    .flops = unet_flops,
    .destroy = unet_destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_DECODER,
    .name = "unet_decoder",
    .version = "1.0.0",
    .description = "DiP Patch Detailer Head: per-patch conv U-Net on the noisy patch, backbone token at the bottleneck",
    .keys = keys,
    .n_keys = N_KEYS,
    .vtable = &vtable,
};

PD_PLUGIN_ENTRY(desc)
