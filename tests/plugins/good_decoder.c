/* Test decoder: a per-token linear D -> p*p*C, then unpatchify. Built a
 * second time as "jit_final_layer" to test that name's parameter prefix.
 * Its keys cover every key type; two of them exist only to make create()
 * misbehave on purpose (param_stem, read_undeclared). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/plugin.h"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "good_decoder"
#endif
#ifndef PARAM_STEM
#define PARAM_STEM "decoder.proj"
#endif

typedef struct decoder_state {
    const pd_host_api *host;
    pd_tensor *w;  /* (p*p*C, D) */
    pd_tensor *b;  /* (p*p*C) or NULL */
    int C, H, W, p;
    float init_std;
    pd_patch_layout layout;
} decoder_state;

static const pd_plugin_key keys[] = {
    {"init_std", PD_KEY_FLOAT, "0.02", "std of the initial weights", "0..1"},
    {"layout", PD_KEY_ENUM, "jit", "token feature order of the projection", "jit|unfold"},
    {"bias", PD_KEY_BOOL, "true", "add a bias to the projection", NULL},
    {"rank", PD_KEY_INT, "1", "unused; an int key for the tests", "1..8"},
    {"param_stem", PD_KEY_STRING, PARAM_STEM, "parameter name stem (tests set a bad one)", NULL},
    {"read_undeclared", PD_KEY_BOOL, "false", "read a key it does not declare (tests)", NULL},
};

static void destroy(void *state) { free(state); }

static pd_status create(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, pd_params *params, void **state) {
    decoder_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, PLUGIN_NAME ": out of memory");
    s->host = host;
    s->C = info->channels, s->H = s->W = info->image_size, s->p = info->patch_size;
    s->init_std = (float)host->cfg_float(cfg, "init_std");
    s->layout = strcmp(host->cfg_string(cfg, "layout"), "unfold") == 0 ? PD_PATCH_UNFOLD
                                                                       : PD_PATCH_JIT;
    if (host->cfg_bool(cfg, "read_undeclared")) (void)host->cfg_int(cfg, "no_such_key");
    const char *stem = host->cfg_string(cfg, "param_stem");
    char name[128];
    int out = s->p * s->p * s->C;
    snprintf(name, sizeof name, "%s.weight", stem);
    s->w = host->param_add(params, name, (int[]){out, info->hidden_size}, 2, 0);
    if (host->cfg_bool(cfg, "bias")) {
        snprintf(name, sizeof name, "%s.bias", stem);
        s->b = host->param_add(params, name, (int[]){out}, 1, 0);
    }
    if (!s->w) { /* the host set the message */
        free(s);
        return PD_ERR_PLUGIN;
    }
    *state = s;
    return PD_OK;
}

static pd_status init_weights(void *state, pd_rng *rng) {
    decoder_state *s = state;
    s->host->rng_normal(rng, s->w->data, s->w->numel, 0.0f, s->init_std);
    if (s->b) memset(s->b->data, 0, s->b->numel * sizeof(float));
    return PD_OK;
}

/* tokens (B, N, D) -> (B, N, p*p*C) -> x_pred (B, C, H, W). Built with
 * BAD_LAYOUT it returns (B, H, W, C), with FAIL_FORWARD it raises a shape
 * error of a host op: the host must catch both and name the plugin. With
 * NAN_OUTPUT it returns NaN (refused where it is made), with NO_PARAM_PATH
 * its output does not depend on its parameters (warned at step 1). */
static pd_tensor *forward(void *state, pd_ctx *ctx, const pd_decoder_inputs *in) {
    decoder_state *s = state;
    pd_tensor *patches = s->host->linear(ctx, in->tokens, s->w, s->b);
    pd_tensor *x = s->host->unpatchify(ctx, patches, s->C, s->H, s->W, s->p, s->layout);
#if defined(BAD_LAYOUT)
    x = s->host->permute(ctx, x, (int[]){0, 2, 3, 1});
#elif defined(FAIL_FORWARD)
    x = s->host->add(ctx, x, in->tokens);
#elif defined(NAN_OUTPUT) /* 0 / 0 from finite inputs: the host must refuse it, naming the plugin */
    pd_tensor *zero = s->host->affine(ctx, x, 0.0f, 0.0f);
    x = s->host->div(ctx, zero, zero);
#elif defined(NO_PARAM_PATH) /* returns a copy of z: no gradient ever reaches w and b */
    x = s->host->affine(ctx, in->z, 1.0f, 0.0f);
#endif
    return x;
}

static double flops(void *state) {
    decoder_state *s = state;
    return 2.0 * (double)s->w->numel * (double)((s->H / s->p) * (s->W / s->p));
}

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
    .name = PLUGIN_NAME,
    .version = "1.0.0",
    .description = "test decoder: linear tokens -> patches, unpatchify",
    .keys = keys,
    .n_keys = (int)(sizeof keys / sizeof keys[0]),
    .vtable = &vtable,
};

PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entry(void) { return &desc; }
