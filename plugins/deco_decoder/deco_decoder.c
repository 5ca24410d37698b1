/* deco_decoder: DeCo's attention-free pixel decoder (Ma et al., "DeCo:
 * Frequency-Decoupled Pixel Diffusion", arXiv 2511.19365; spec deco.md 2)
 * as a decoder plugin. Each pixel is decoded on its own from its noisy
 * value, its DCT position features inside the patch and its patch token's
 * condition, through `depth` AdaLN MLP blocks of width `width`. Keys,
 * create, flops, destroy and the descriptor; the parameters, the position
 * table and the forward pass are in the other files of this folder.
 * Documentation: docs/deco_decoder.md. */
#include <stdlib.h>

#include "deco_decoder.h"
#include "pixeldit/plugin_util.h"

static const pd_plugin_key keys[] = {
    {"width", PD_KEY_INT, "32", "decoder width w, hidden_size_x (DeCo: 32)", "1..1024"},
    {"depth", PD_KEY_INT, "3", "ResBlocks N (DeCo: 3 = num_blocks - num_cond_blocks)", "1..64"},
    {"max_freqs", PD_KEY_INT, "8",
     "F: the NerfEmbedder's F x F DCT position features, frequencies linspace(0, F, F) (DeCo: 8)",
     "1..32"},
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

static pd_status deco_create(const pd_host_api *host, const pd_model_info *info,
                             const pd_plugin_config *cfg, pd_params *params, void **state) {
    deco_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "deco_decoder: out of memory");
    s->host = host;
    s->info = *info;
    s->width = (int)host->cfg_int(cfg, "width");
    s->depth = (int)host->cfg_int(cfg, "depth");
    s->max_freqs = (int)host->cfg_int(cfg, "max_freqs");
    int p = info->patch_size, F = s->max_freqs;
    if (s->width < 1 || s->depth < 1 || s->depth > DECO_MAX_DEPTH || F < 1) {
        free(s); /* a config read failed: the host has the message */
        return PD_ERR_CONFIG;
    }
    s->dct = malloc((size_t)p * p * F * F * sizeof(float));
    if (!s->dct) {
        free(s);
        return host->fail(PD_ERR_NOMEM, "deco_decoder: out of memory for the %dx%d position table", p, p);
    }
    deco_dct_table(s->dct, p, F);
    pd_status st = deco_params_register(s, params);
    if (st) {
        free(s->dct), free(s); /* the host does not call destroy after a failed create */
        return st;
    }
    *state = s;
    return PD_OK;
}

static pd_status deco_init_weights(void *state, pd_rng *rng) {
    deco_params_init(state, rng);
    return PD_OK;
}

static pd_tensor *deco_forward_cb(void *state, pd_ctx *ctx, const pd_decoder_inputs *in) {
    return deco_forward(state, ctx, in);
}

static double deco_flops_cb(void *state) { return deco_flops(state); }

static void deco_destroy(void *state) {
    deco_state *s = state;
    if (s) free(s->dct);
    free(s);
}

static const pd_decoder_vtable vtable = {
    .struct_size = sizeof(pd_decoder_vtable),
    .create = deco_create,
    .init_weights = deco_init_weights,
    .forward = deco_forward_cb,
    .flops = deco_flops_cb,
    .destroy = deco_destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_DECODER,
    .name = "deco_decoder",
    .version = "1.0.0",
    .description = "DeCo pixel decoder: per-pixel AdaLN MLP on the noisy pixel + DCT position, conditioned on its patch token",
    .keys = keys,
    .n_keys = N_KEYS,
    .vtable = &vtable,
};

PD_PLUGIN_ENTRY(desc)
