/* Shared by the two conv2d kernels (conv.c: chunked im2col + GEMM;
 * conv_dense.c: small images as one dense product). Internal. */
#ifndef PD_CONV_INTERNAL_H
#define PD_CONV_INTERNAL_H

#include "op_util.h"

typedef struct {
    int B, Ci, H, W;      /* input */
    int Co, kh, kw;       /* weight (Co, Ci / groups, kh, kw) */
    int stride, pad;
    int groups;           /* channel groups: 1 plain, Ci depthwise */
    int Ho, Wo;           /* output */
} conv_attr;

/* db (C) += sums of dy (B, C, L) over batch and space. */
void pd_conv_bias_grad_add(float *db, const float *dy, int B, int C, size_t L);

/* True when the dense kernel does fewer multiply-adds than im2col: an image
 * no larger than the kernel (H*W <= kh*kw), plain (1 group), and a dense
 * weight of at most 4M floats. */
bool pd_conv_dense_fits(const conv_attr *a);
pd_status pd_conv_dense_fwd(pd_ctx *ctx, const conv_attr *a, const float *x, const float *w,
                            const float *b, float *y);
pd_status pd_conv_dense_bwd(pd_ctx *ctx, const conv_attr *a, const float *x, const float *w,
                            const float *dy, float *dx, float *dw);

#endif
