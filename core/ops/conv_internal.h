/* Shared by the three conv2d kernels (conv.c: chunked im2col + GEMM;
 * conv_dense.c: small images as one dense product; conv_rows.c: narrow
 * images as one product per output row). Internal. */
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

/* True when the row-band kernel does at most 5/4 of im2col's multiply-adds
 * (stride 1, 1 group, images a few pixels wide) and its band weights hold
 * at most 4M floats. conv.c asks after pd_conv_dense_fits. */
bool pd_conv_rows_fits(const conv_attr *a);
pd_status pd_conv_rows_fwd(pd_ctx *ctx, const conv_attr *a, const float *x, const float *w,
                           const float *b, float *y);
pd_status pd_conv_rows_bwd(pd_ctx *ctx, const conv_attr *a, const float *x, const float *w,
                           const float *dy, float *dx, float *dw);

#endif
