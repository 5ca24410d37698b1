/* Internals of core/eval shared by its files and its tests. */
#ifndef PD_EVAL_INTERNAL_H
#define PD_EVAL_INTERNAL_H

#include "pixeldit/eval.h"
#include "pixeldit/tensor.h"

/* Mean softmax cross-entropy of logits (B, K) against labels[B] in [0, K)
 * -> scalar: mean_b (logsumexp_k z_bk - z_b,y_b). Backward:
 * dz_bk = dL * (softmax_bk - [k == y_b]) / B. */
pd_tensor *pd_eval_cross_entropy(pd_ctx *ctx, pd_tensor *logits, const int *labels);

/* The network's forward pass on an arena tensor x (B, C, S, S): logits
 * (B, K); *features (B, PD_FEATNET_DIM) when features is non-NULL. */
pd_tensor *pd_featnet_forward(pd_featnet *net, pd_ctx *ctx, pd_tensor *x, pd_tensor **features);

/* 64-bit FNV-1a over bytes, continuing from h (start: PD_FNV_OFFSET). */
#define PD_FNV_OFFSET 0xcbf29ce484222325ull
uint64_t pd_fnv1a(uint64_t h, const void *data, size_t n);

/* mkdir -p */
pd_status pd_eval_make_dir(const char *path);

#endif
