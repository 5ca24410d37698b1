/* The attention kernel bound to a step context (internal).
 *
 * Decoders that attend (plugins/pixeldit_decoder) must run the attention
 * plugin the model was built with, not a fixed kernel, so that a faster
 * attention plugin speeds them up too. The owner of that binding is the
 * model's forward: pd_jit_forward binds its attention plugin on the ctx for
 * the duration of the forward (the decoder runs inside it) and restores the
 * previous binding before it returns. The host table's `attention` entry
 * (pd_attention_bound, core/ops/attention.c) calls the bound kernel, or the
 * exact pd_sdpa when nothing is bound (a plugin's standalone tests). The
 * binding is only a function and its state: the backward pass does not
 * need it, the kernel's ops are on the tape. */
#ifndef PD_CTX_ATTENTION_H
#define PD_CTX_ATTENTION_H

#include "pixeldit/tensor.h"

/* An attention plugin's forward: q (B, H, N, d), k and v (B, H, M, d)
 * -> (B, H, N, d). */
typedef pd_tensor *(*pd_attention_fn)(void *state, pd_ctx *ctx, pd_tensor *q, pd_tensor *k,
                                      pd_tensor *v, float scale);

typedef struct pd_attention_binding {
    pd_attention_fn fn; /* NULL: nothing bound (pd_sdpa) */
    void *state;
} pd_attention_binding;

/* Binds `b` on ctx and returns the previous binding, to be restored with
 * another call when the forward that bound it ends. */
pd_attention_binding pd_ctx_bind_attention(pd_ctx *ctx, pd_attention_binding b);
pd_attention_binding pd_ctx_bound_attention(const pd_ctx *ctx);

/* The bound kernel on q, k, v, or pd_sdpa when none is bound. While the
 * kernel runs nothing is bound, so a kernel that itself calls the host's
 * attention gets pd_sdpa instead of recursing. */
pd_tensor *pd_attention_bound(pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v, float scale);

#endif
