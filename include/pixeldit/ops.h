/* pixeldit/ops.h - differentiable ops on float32 tensors.
 *
 * Every op takes the step context first, returns a new arena tensor and, in
 * grad mode, records what its backward needs. On bad input it returns NULL
 * and records an error in the context naming the op and the shapes; a NULL
 * input makes it return NULL silently (the first error is kept).
 *
 * Shape notation in comments: B batch, N tokens, D width, C channels,
 * H/W height/width, ... any leading dims.
 */
#ifndef PIXELDIT_OPS_H
#define PIXELDIT_OPS_H

#include "pixeldit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

struct pd_rng;

/* ---- GEMM ------------------------------------------------------------- */

/* y (..., out) = x (..., in) @ w^T + b; w (out, in) as in torch.nn.Linear;
 * b (out) or NULL. One sgemm over all leading rows. */
pd_tensor *pd_linear(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b);

enum { PD_TRANS_A = 1, PD_TRANS_B = 2 };
/* Batched matmul: a (..., M, K) @ b (..., K, N) -> (..., M, N), with
 * PD_TRANS_A / PD_TRANS_B meaning the last two dims of a / b are stored
 * transposed. b may be 2-D (shared across the batch) or have the same
 * leading dims as a. */
pd_tensor *pd_matmul(pd_ctx *ctx, pd_tensor *a, pd_tensor *b, int trans);

/* ---- elementwise, numpy broadcasting ---------------------------------- */

pd_tensor *pd_add(pd_ctx *ctx, pd_tensor *a, pd_tensor *b);
pd_tensor *pd_sub(pd_ctx *ctx, pd_tensor *a, pd_tensor *b);
pd_tensor *pd_mul(pd_ctx *ctx, pd_tensor *a, pd_tensor *b);
pd_tensor *pd_div(pd_ctx *ctx, pd_tensor *a, pd_tensor *b);
/* alpha * x + beta */
pd_tensor *pd_affine(pd_ctx *ctx, pd_tensor *x, float alpha, float beta);

/* x * (1 + scale) + shift. x (B, ..., D); scale and shift are either
 * (B, D) - one vector per sample, broadcast over the middle dims - or the
 * same shape as x (per token / per pixel). shift may be NULL. */
pd_tensor *pd_modulate(pd_ctx *ctx, pd_tensor *x, pd_tensor *shift, pd_tensor *scale);

/* x + gate * h, gate (B, D) broadcast over the middle dims of x/h (B, ..., D),
 * or the same shape as x (per-pixel gate). The adaLN-Zero residual. */
pd_tensor *pd_gated_residual(pd_ctx *ctx, pd_tensor *x, pd_tensor *gate, pd_tensor *h);

/* ---- elementwise maths, x and y (...) the same shape ------------------- */
/* Outside the domain the value is IEEE's, as torch: sqrt(x < 0) = NaN,
 * log(0) = -inf, log(x < 0) = NaN, pow(x < 0, non-integer) = NaN. The
 * gradient is the derivative's formula evaluated there, as torch:
 * sqrt'(0) = +inf, sqrt'(x < 0) = NaN, log'(x) = 1/x (+inf at 0, finite
 * below). At kinks: abs'(0) = 0; clamp passes the gradient for
 * lo <= x <= hi (closed). Clamp first when an input can leave the domain. */

pd_tensor *pd_sqrt(pd_ctx *ctx, pd_tensor *x);
pd_tensor *pd_abs(pd_ctx *ctx, pd_tensor *x);
pd_tensor *pd_exp(pd_ctx *ctx, pd_tensor *x);
pd_tensor *pd_log(pd_ctx *ctx, pd_tensor *x);   /* natural log */
pd_tensor *pd_tanh(pd_ctx *ctx, pd_tensor *x);
pd_tensor *pd_sigmoid(pd_ctx *ctx, pd_tensor *x); /* 1 / (1 + exp(-x)) */
/* min(max(x, lo), hi); lo <= hi required (PD_ERR_ARG otherwise), either
 * may be -INFINITY / INFINITY; NaN in x stays NaN. */
pd_tensor *pd_clamp(pd_ctx *ctx, pd_tensor *x, float lo, float hi);
/* x^exponent (powf), exponent finite; d/dx = exponent * x^(exponent-1),
 * and 0 when exponent = 0 (as torch). A negative base is fine with an
 * integer exponent. */
pd_tensor *pd_pow(pd_ctx *ctx, pd_tensor *x, float exponent);

/* ---- activations -------------------------------------------------------- */

pd_tensor *pd_silu(pd_ctx *ctx, pd_tensor *x);
/* GELU: exact (erf) as torch's default, or the tanh approximation. */
pd_tensor *pd_gelu(pd_ctx *ctx, pd_tensor *x, bool tanh_approx);
/* x (..., 2H) -> silu(x[..., :H]) * x[..., H:] (..., H): the gate is the
 * first half, as JiT's SwiGLUFFN chunk(2). */
pd_tensor *pd_swiglu(pd_ctx *ctx, pd_tensor *x);
/* Softmax over the last dim. */
pd_tensor *pd_softmax(pd_ctx *ctx, pd_tensor *x);
/* Inverted dropout with keep-prob 1-p; identity when not training or p = 0. */
pd_tensor *pd_dropout(pd_ctx *ctx, pd_tensor *x, float p, struct pd_rng *rng);

/* ---- normalisation over the last dim ----------------------------------- */

/* x * rsqrt(mean(x^2) + eps) * w; w (D) or NULL. */
pd_tensor *pd_rmsnorm(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, float eps);
/* (x - mean) * rsqrt(var + eps) * w + b; w, b (D) or NULL (non-affine). */
pd_tensor *pd_layernorm(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b, float eps);

/* ---- attention ---------------------------------------------------------- */

/* Exact scaled dot-product attention, no mask:
 * q (B, H, N, d), k and v (B, H, M, d) -> softmax(q k^T * scale) v (B, H, N, d).
 * Logits and softmax in fp32; the probabilities are kept for backward. */
pd_tensor *pd_sdpa(pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v, float scale);

/* Rotary table: angle per (position, pair); rows of the first n_prefix
 * positions are the identity (cos 1, sin 0). Owned by whoever builds it. */
typedef struct pd_rope_table {
    int n_pos;    /* rows: n_prefix + grid_h * grid_w */
    int dim;      /* rotated dims (the head dim); pairs = dim / 2 */
    float *cos;   /* (n_pos, dim/2) */
    float *sin;   /* (n_pos, dim/2) */
} pd_rope_table;

/* JiT / EVA "VisionRotaryEmbeddingFast" 2D table: R = dim/2; pair m < R/2
 * uses the row index with omega = theta^(-2m/R), pair m >= R/2 uses the
 * column index with omega_{m - R/2}. Positions are 0..grid-1. */
pd_status pd_rope_table_init_2d(pd_rope_table *tab, int grid_h, int grid_w, int dim,
                                int n_prefix, float theta);
void pd_rope_table_free(pd_rope_table *tab);

/* Rotates adjacent pairs (2m, 2m+1) of x (B, H, N, d) by the table rows
 * 0..N-1: out[2m] = x[2m] c - x[2m+1] s, out[2m+1] = x[2m+1] c + x[2m] s. */
pd_tensor *pd_rope(pd_ctx *ctx, pd_tensor *x, const pd_rope_table *tab);

/* ---- fused kernels --------------------------------------------------------
 * One pass instead of a chain of ops; each equals its composed reference
 * (named below) to rounding, which tests/unit/test_fused.c checks. Models
 * use them when pd_ctx_fused(ctx) is on. */

/* pd_modulate(pd_rmsnorm(x, w, eps), shift, scale): the adaLN input. w and
 * shift may be NULL; shift/scale as pd_modulate. */
pd_tensor *pd_rmsnorm_modulate(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *shift,
                               pd_tensor *scale, float eps);

/* pd_modulate(pd_layernorm(x, w, b, eps), shift, scale): DeCo's per-pixel
 * adaLN input. w, b and shift may be NULL; shift/scale as pd_modulate. */
pd_tensor *pd_layernorm_modulate(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b,
                                 pd_tensor *shift, pd_tensor *scale, float eps);

/* The attention input from the qkv projection: qkv (B, N, 3 * heads * hd)
 * -> (3, B, heads, N, hd) holding q, k, v, with q and k RMS-normalised over
 * hd (weights q_w, k_w (hd); both NULL: no qk-norm) and then rotated by the
 * RoPE table rows 0..N-1 (NULL: no RoPE). Reference: reshape to
 * (B, N, 3, heads, hd), permute (2, 0, 3, 1, 4), slice, pd_rmsnorm, pd_rope. */
pd_tensor *pd_qkv_heads(pd_ctx *ctx, pd_tensor *qkv, int heads, pd_tensor *q_w, pd_tensor *k_w,
                        float eps, const pd_rope_table *rope);

/* ---- lookup, shape -------------------------------------------------------- */

/* table (V, D), ids[n] in [0, V) -> (n, D). */
pd_tensor *pd_embedding(pd_ctx *ctx, pd_tensor *table, const int *ids, int n);

pd_tensor *pd_concat(pd_ctx *ctx, pd_tensor *const *xs, int n, int axis);
/* x[..., start:start+len, ...] along axis (negative axis from the end). */
pd_tensor *pd_slice(pd_ctx *ctx, pd_tensor *x, int axis, int start, int len);
/* Same data, new shape; one dim may be -1. */
pd_tensor *pd_reshape(pd_ctx *ctx, pd_tensor *x, const int *shape, int ndim);
/* out.shape[i] = x.shape[perm[i]]. */
pd_tensor *pd_permute(pd_ctx *ctx, pd_tensor *x, const int *perm);

typedef enum pd_patch_layout {
    PD_PATCH_JIT = 0,    /* token feature (py*p + px)*C + c (channel fastest) */
    PD_PATCH_UNFOLD = 1  /* token feature c*p*p + py*p + px (F.unfold order) */
} pd_patch_layout;
/* img (B, C, H, W) -> tokens (B, (H/p)*(W/p), p*p*C), tokens row-major. */
pd_tensor *pd_patchify(pd_ctx *ctx, pd_tensor *img, int p, pd_patch_layout layout);
/* tokens (B, N, p*p*C) -> img (B, C, H, W). */
pd_tensor *pd_unpatchify(pd_ctx *ctx, pd_tensor *tokens, int C, int H, int W, int p,
                         pd_patch_layout layout);

/* ---- convolution, pooling, resampling (NCHW) ------------------------------ */

/* x (B, Ci, H, W), w (Co, Ci, kh, kw), b (Co) or NULL -> (B, Co, Ho, Wo);
 * im2col + sgemm. */
pd_tensor *pd_conv2d(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b, int stride, int pad);
/* Grouped convolution, torch's Conv2d(groups=G): x (B, Ci, H, W),
 * w (Co, Ci/G, kh, kw), b (Co) or NULL -> (B, Co, Ho, Wo); group j maps
 * input channels [j*Ci/G, (j+1)*Ci/G) to outputs [j*Co/G, (j+1)*Co/G).
 * Ci and Co divisible by G. Depthwise: G = Ci, w (Ci*m, 1, kh, kw).
 * stride and pad as pd_conv2d; G = 1 is pd_conv2d. */
pd_tensor *pd_conv2d_grouped(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b, int stride,
                             int pad, int groups);
/* ConvTranspose2d(kernel 2, stride 2): x (B, Ci, H, W), w (Ci, Co, 2, 2)
 * (torch layout), b (Co) or NULL -> (B, Co, 2H, 2W). */
pd_tensor *pd_conv_transpose2x2(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b);
/* MaxPool2d(2): (B, C, H, W) -> (B, C, H/2, W/2) (floor). Ties go to the
 * first maximum in row-major order, as torch. */
pd_tensor *pd_maxpool2x2(pd_ctx *ctx, pd_tensor *x);
/* Bilinear resize (B, C, H, W) -> (B, C, out_h, out_w), torch semantics
 * for align_corners true/false. */
pd_tensor *pd_upsample_bilinear(pd_ctx *ctx, pd_tensor *x, int out_h, int out_w,
                                bool align_corners);
/* Nearest up-sampling by integer factors (each >= 1): (B, C, H, W) ->
 * (B, C, H*fh, W*fw), out[.., i, j] = x[.., i/fh, j/fw], as torch's
 * F.interpolate(mode='nearest') at an integer scale. */
pd_tensor *pd_upsample_nearest(pd_ctx *ctx, pd_tensor *x, int fh, int fw);
/* torch's PixelShuffle(r): (B, C*r*r, H, W) -> (B, C, H*r, W*r) with
 * out[b, c, h*r + i, w*r + j] = x[b, (c*r + i)*r + j, h, w]; and its
 * inverse PixelUnshuffle(r): (B, C, H*r, W*r) -> (B, C*r*r, H, W). */
pd_tensor *pd_pixel_shuffle(pd_ctx *ctx, pd_tensor *x, int r);
pd_tensor *pd_pixel_unshuffle(pd_ctx *ctx, pd_tensor *x, int r);

/* ---- reductions, losses ---------------------------------------------------- */

pd_tensor *pd_sum(pd_ctx *ctx, pd_tensor *x);   /* -> scalar */
pd_tensor *pd_mean(pd_ctx *ctx, pd_tensor *x);  /* -> scalar */
/* Sum / mean over one axis, which is removed. */
pd_tensor *pd_sum_axis(pd_ctx *ctx, pd_tensor *x, int axis);
pd_tensor *pd_mean_axis(pd_ctx *ctx, pd_tensor *x, int axis);
/* mean((a - b)^2) -> scalar. */
pd_tensor *pd_mse(pd_ctx *ctx, pd_tensor *a, pd_tensor *b);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
