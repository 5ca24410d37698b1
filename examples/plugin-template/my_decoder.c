/* my_decoder - a minimal pixeldit decoder plugin: each backbone token goes
 * through one linear layer to a p x p x C patch, and the patches are put
 * back into an image. Copy it, rename it, make it better. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pixeldit/plugin.h>

typedef struct my_decoder {
    const pd_host_api *host; /* everything the plugin calls goes through this */
    pd_tensor *w;            /* (p*p*C, D), owned by the host's pd_params */
    pd_tensor *b;            /* (p*p*C) */
    int C, H, W, p;
    float init_std;
} my_decoder;

/* Config keys: `[decoder] init_std = 0.01` in an INI file sets this one. */
static const pd_plugin_key keys[] = {
    {"init_std", PD_KEY_FLOAT, "0.02", "std of the initial projection weights", "0..1"},
};

static pd_status create(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, pd_params *params, void **state) {
    my_decoder *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "my_decoder: out of memory");
    s->host = host;
    s->C = info->channels, s->H = s->W = info->image_size, s->p = info->patch_size;
    s->init_std = (float)host->cfg_float(cfg, "init_std");
    int out = s->p * s->p * s->C;
    /* parameter names must start with "decoder." (the host checks) */
    s->w = host->param_add(params, "decoder.proj.weight", (int[]){out, info->hidden_size}, 2, 0);
    s->b = host->param_add(params, "decoder.proj.bias", (int[]){out}, 1, 0);
    if (!s->w || !s->b) { /* the host has set the message */
        free(s);
        return PD_ERR_PLUGIN;
    }
    *state = s;
    return PD_OK;
}

static pd_status init_weights(void *state, pd_rng *rng) {
    my_decoder *s = state;
    s->host->rng_normal(rng, s->w->data, s->w->numel, 0.0f, s->init_std);
    memset(s->b->data, 0, s->b->numel * sizeof(float));
    return PD_OK;
}

/* tokens (B, N, D) -> patches (B, N, p*p*C) -> x_pred (B, C, H, W) */
static pd_tensor *forward(void *state, pd_ctx *ctx, const pd_decoder_inputs *in) {
    my_decoder *s = state;
    pd_tensor *patches = s->host->linear(ctx, in->tokens, s->w, s->b);
    return s->host->unpatchify(ctx, patches, s->C, s->H, s->W, s->p, PD_PATCH_JIT);
}

/* Frees the state only: the parameters belong to the host. */
static void destroy(void *state) { free(state); }

static const pd_decoder_vtable vtable = {
    .struct_size = sizeof(pd_decoder_vtable),
    .create = create,
    .init_weights = init_weights,
    .forward = forward,
    .destroy = destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_DECODER,
    .name = "my_decoder",
    .version = "0.1.0",
    .description = "linear per-token projection to patches (template)",
    .keys = keys,
    .n_keys = 1,
    .vtable = &vtable,
};

PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entry(void) { return &desc; }
