/* Naive loop reference for pd_sdpa (internal; tests compare the sgemm
 * kernel against it). Same contract as pd_sdpa in pixeldit/ops.h. */
#ifndef PD_ATTENTION_NAIVE_H
#define PD_ATTENTION_NAIVE_H

#include "pixeldit/ops.h"

/* q (B, H, N, d), k, v (B, H, M, d) -> (B, H, N, d); forward and backward
 * are plain loops accumulating in double. */
pd_tensor *pd_sdpa_naive(pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v, float scale);

#endif
