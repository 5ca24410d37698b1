/* pixeldit/plugin_util.h - header-only helpers for plugin authors.
 *
 * Everything here is static inline and calls the host only through the
 * pd_host_api table, so a plugin that includes it still imports nothing
 * from libpixeldit, and nothing here is part of the binary ABI: a plugin
 * compiles these helpers into itself.
 *
 *   PD_PLUGIN_ENTRY(desc)   the exported entry point, in one line
 *   pd_jit_head             JiT's FinalLayer (add, init, forward, flops),
 *                           for decoders that keep JiT's head as a part
 */
#ifndef PIXELDIT_PLUGIN_UTIL_H
#define PIXELDIT_PLUGIN_UTIL_H

#include <stdbool.h>
#include <stdio.h>

#include "pixeldit/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defines the exported pixeldit_plugin_entry returning &desc:
 *   static const pd_plugin_desc desc = {PD_PLUGIN_DESC_INIT, .kind = ...};
 *   PD_PLUGIN_ENTRY(desc) */
#define PD_PLUGIN_ENTRY(desc)                                                              \
    PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entry(void) { return &(desc); }

/* ---- JiT's FinalLayer ------------------------------------------------------
 *
 *   shift, scale = Linear_ada(SiLU(c)).chunk(2)             (B, D) each
 *   h = modulate(RMSNorm(tokens), shift, scale)             (B, N, D)
 *   x_pred = unpatchify(Linear(h)), JiT's patch order       (B, C, H, W)
 *
 * Parameters under PREFIX (the official "final_layer." for the built-in
 * decoder, "decoder.final_layer." inside another decoder), so a JiT
 * checkpoint's final_layer.* tensors load into any of them. A fresh head
 * outputs exactly 0: RMSNorm weight 1, the modulation and the linear 0. */
typedef struct pd_jit_head {
    pd_tensor *norm_w;        /* PREFIX norm_final.weight: (D) */
    pd_tensor *lin_w, *lin_b; /* PREFIX linear.{weight,bias}: (p*p*C, D), (p*p*C); NULL if not added */
    pd_tensor *ada_w, *ada_b; /* PREFIX adaLN_modulation.1.{weight,bias}: (2D, D), (2D) */
} pd_jit_head;

/* Registers PREFIX STEM (PD_ERR_ARG and NULL when the name does not fit). */
static inline pd_tensor *pd_jit_head_param_(const pd_host_api *h, pd_params *params,
                                            const char *prefix, const char *stem,
                                            const int *shape, int ndim) {
    char name[160];
    int n = snprintf(name, sizeof name, "%s%s", prefix, stem);
    if (n < 0 || n >= (int)sizeof name) {
        h->fail(PD_ERR_ARG, "plugin_util: parameter name '%s%s' is longer than %d bytes",
                prefix, stem, (int)sizeof name - 1);
        return NULL;
    }
    return h->param_add(params, name, shape, ndim, 0);
}

static inline void pd_jit_head_clear_(pd_jit_head *head) {
    head->norm_w = head->lin_w = head->lin_b = head->ada_w = head->ada_b = NULL;
}

static inline bool pd_jit_head_add_norm_(const pd_host_api *h, pd_params *params,
                                         const char *prefix, const pd_model_info *m,
                                         pd_jit_head *head) {
    const int shape[1] = {m->hidden_size};
    head->norm_w = pd_jit_head_param_(h, params, prefix, "norm_final.weight", shape, 1);
    return head->norm_w != NULL;
}

static inline bool pd_jit_head_add_ada_(const pd_host_api *h, pd_params *params,
                                        const char *prefix, const pd_model_info *m,
                                        pd_jit_head *head) {
    const int D = m->hidden_size, shape[2] = {2 * D, D};
    head->ada_w = pd_jit_head_param_(h, params, prefix, "adaLN_modulation.1.weight", shape, 2);
    head->ada_b = pd_jit_head_param_(h, params, prefix, "adaLN_modulation.1.bias", shape, 1);
    return head->ada_w && head->ada_b;
}

/* The output linear alone: D -> p*p*C. */
static inline bool pd_jit_head_add_linear(const pd_host_api *h, pd_params *params,
                                          const char *prefix, const pd_model_info *m,
                                          pd_jit_head *head) {
    const int out = m->patch_size * m->patch_size * m->channels, shape[2] = {out, m->hidden_size};
    head->lin_w = pd_jit_head_param_(h, params, prefix, "linear.weight", shape, 2);
    head->lin_b = pd_jit_head_param_(h, params, prefix, "linear.bias", shape, 1);
    return head->lin_w && head->lin_b;
}

/* The whole head in JiT's state_dict order (norm_final, linear,
 * adaLN_modulation). Call inside the decoder's create(); false when the
 * host refused a parameter (message set: return PD_ERR_PLUGIN). */
static inline bool pd_jit_head_add(const pd_host_api *h, pd_params *params, const char *prefix,
                                   const pd_model_info *m, pd_jit_head *head) {
    pd_jit_head_clear_(head);
    return pd_jit_head_add_norm_(h, params, prefix, m, head) &&
           pd_jit_head_add_linear(h, params, prefix, m, head) &&
           pd_jit_head_add_ada_(h, params, prefix, m, head);
}

/* The modulation alone (norm_final, then adaLN_modulation), for a decoder
 * that maps the modulated tokens its own way; pd_jit_head_add_linear may
 * follow. The order of registration is the order of the checkpoint. */
static inline bool pd_jit_head_add_modulation(const pd_host_api *h, pd_params *params,
                                              const char *prefix, const pd_model_info *m,
                                              pd_jit_head *head) {
    pd_jit_head_clear_(head);
    return pd_jit_head_add_norm_(h, params, prefix, m, head) &&
           pd_jit_head_add_ada_(h, params, prefix, m, head);
}

static inline void pd_jit_head_fill_(pd_tensor *t, float v) {
    if (t)
        for (size_t i = 0; i < t->numel; i++) t->data[i] = v;
}

/* JiT's init: RMSNorm weight 1, the modulation and the linear 0 (no draws). */
static inline void pd_jit_head_init(pd_jit_head *head) {
    pd_jit_head_fill_(head->norm_w, 1.0f);
    pd_jit_head_fill_(head->lin_w, 0.0f);
    pd_jit_head_fill_(head->lin_b, 0.0f);
    pd_jit_head_fill_(head->ada_w, 0.0f);
    pd_jit_head_fill_(head->ada_b, 0.0f);
}

/* tokens (B, N, D), c (B, D) -> the modulated tokens (B, N, D). */
static inline pd_tensor *pd_jit_head_modulate(const pd_host_api *h, pd_ctx *ctx,
                                              const pd_jit_head *head, const pd_model_info *m,
                                              pd_tensor *tokens, pd_tensor *c) {
    int D = m->hidden_size;
    pd_tensor *mod = h->linear(ctx, h->silu(ctx, c), head->ada_w, head->ada_b);  /* (B, 2D) */
    pd_tensor *shift = h->slice(ctx, mod, 1, 0, D), *scale = h->slice(ctx, mod, 1, D, D);
    return h->modulate(ctx, h->rmsnorm(ctx, tokens, head->norm_w, 1e-6f), shift, scale);
}

/* Modulated tokens x (B, N, D) -> the image (B, C, H, W) through the linear. */
static inline pd_tensor *pd_jit_head_output(const pd_host_api *h, pd_ctx *ctx,
                                            const pd_jit_head *head, const pd_model_info *m,
                                            pd_tensor *x) {
    x = h->linear(ctx, x, head->lin_w, head->lin_b);                    /* (B, N, p*p*C) */
    return h->unpatchify(ctx, x, m->channels, m->image_size, m->image_size, m->patch_size,
                         PD_PATCH_JIT);                                  /* (B, C, H, W) */
}

/* The whole head: tokens (B, N, D), c (B, D) -> x_pred (B, C, H, W); NULL
 * with the error in ctx. */
static inline pd_tensor *pd_jit_head_forward(const pd_host_api *h, pd_ctx *ctx,
                                             const pd_jit_head *head, const pd_model_info *m,
                                             pd_tensor *tokens, pd_tensor *c) {
    return pd_jit_head_output(h, ctx, head, m, pd_jit_head_modulate(h, ctx, head, m, tokens, c));
}

/* Forward FLOPs per image: the modulation's GEMM, plus the linear's when
 * the head has one. */
static inline double pd_jit_head_flops(const pd_jit_head *head, const pd_model_info *m) {
    double D = m->hidden_size, out = (double)m->patch_size * m->patch_size * m->channels;
    double f = 2.0 * D * 2 * D;
    if (head->lin_w) f += 2.0 * m->num_tokens * D * out;
    return f;
}

#ifdef __cplusplus
}
#endif
#endif
