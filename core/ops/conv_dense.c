/* conv2d on images no larger than the kernel, as one dense product.
 *
 * On an H x W image every output pixel o sees every input pixel i through
 * at most one tap, so the convolution is the linear map
 *   y[n, co*L + o] = sum_{ci, i} x[n, ci*HW + i] Wd[co*L + o, ci*HW + i]
 * with Wd (Co*L, Ci*HW) holding w[co, ci, ky, kx] where the tap
 * (ky, kx) = (iy - oy*stride + pad, ix - ox*stride + pad) lies inside the
 * kernel, 0 elsewhere. NCHW images are already rows of that product, so a
 * batch is one sgemm with no im2col. Per output pixel it costs Ci*H*W
 * multiply-adds against im2col's Ci*kh*kw: DiP's U-Net runs 3x3 convs on
 * 2x2 patches (4 against 9) and its 1x1 bottleneck on 1x1 ones, for which
 * the im2col columns are mostly padding zeros.
 *
 * Backward: dx += dy @ Wd; dWd = dy^T @ x, folded back onto the taps. */
#include <string.h>

#include "conv_internal.h"
#include "gemm.h"

#define DENSE_MAX_FLOATS ((size_t)4 << 20)

bool pd_conv_dense_fits(const conv_attr *a) {
    size_t rows = (size_t)a->Co * a->Ho * a->Wo, cols = (size_t)a->Ci * a->H * a->W;
    return a->groups == 1 && a->H * a->W <= a->kh * a->kw && rows * cols <= DENSE_MAX_FLOATS;
}

/* The tap index ky*kw + kx linking output pixel o to input pixel i, or -1. */
static int tap_of(const conv_attr *a, int o, int i) {
    int oy = o / a->Wo, ox = o % a->Wo, iy = i / a->W, ix = i % a->W;
    int ky = iy - oy * a->stride + a->pad, kx = ix - ox * a->stride + a->pad;
    return ky >= 0 && ky < a->kh && kx >= 0 && kx < a->kw ? ky * a->kw + kx : -1;
}

/* Wd (Co*L, Ci*HW) from w (Co, Ci, kh, kw). */
static void dense_weight(const conv_attr *a, const float *w, float *wd) {
    int L = a->Ho * a->Wo, HW = a->H * a->W, T = a->kh * a->kw;
    size_t cols = (size_t)a->Ci * HW;
    for (int co = 0; co < a->Co; co++)
        for (int o = 0; o < L; o++) {
            float *row = wd + ((size_t)co * L + o) * cols;
            for (int i = 0; i < HW; i++) {
                int t = tap_of(a, o, i);
                for (int ci = 0; ci < a->Ci; ci++)
                    row[(size_t)ci * HW + i] = t < 0 ? 0.0f : w[((size_t)co * a->Ci + ci) * T + t];
            }
        }
}

pd_status pd_conv_dense_fwd(pd_ctx *ctx, const conv_attr *a, const float *x, const float *w,
                            const float *b, float *y) {
    int L = a->Ho * a->Wo, rows = a->Co * L, cols = a->Ci * a->H * a->W;
    float *wd = pd_ctx_scratch(ctx, (size_t)rows * cols * sizeof(float)); /* (Co*L, Ci*HW) */
    if (!wd) return PD_ERR_NOMEM;
    dense_weight(a, w, wd);
    /* y (B, Co*L) = x (B, Ci*HW) @ Wd^T */
    pd_status st = pd_gemm(pd_ctx_precision(ctx), false, true, a->B, rows, cols, 1.0f, x, cols, wd,
                           cols, 0.0f, y, rows);
    if (st || !b) return st;
#pragma omp parallel for if ((size_t)a->B * rows > PD_PAR_MIN)
    for (int n = 0; n < a->B; n++)
        for (int co = 0; co < a->Co; co++) {
            float *p = y + (size_t)n * rows + (size_t)co * L;
            for (int o = 0; o < L; o++) p[o] += b[co];
        }
    return PD_OK;
}

pd_status pd_conv_dense_bwd(pd_ctx *ctx, const conv_attr *a, const float *x, const float *w,
                            const float *dy, float *dx, float *dw) {
    int L = a->Ho * a->Wo, HW = a->H * a->W, T = a->kh * a->kw;
    int rows = a->Co * L, cols = a->Ci * HW;
    size_t n = (size_t)rows * cols;
    float *wd = pd_ctx_scratch(ctx, 2 * n * sizeof(float)); /* Wd, then dWd */
    if (!wd) return PD_ERR_NOMEM;
    pd_precision prec = pd_ctx_precision(ctx);
    pd_status st = PD_OK;
    if (dx) { /* dx (B, Ci*HW) += dy (B, Co*L) @ Wd */
        dense_weight(a, w, wd);
        st = pd_gemm(prec, false, false, a->B, cols, rows, 1.0f, dy, rows, wd, cols, 1.0f, dx, cols);
    }
    if (st || !dw) return st;
    float *dwd = wd + n; /* dWd (Co*L, Ci*HW) = dy^T @ x */
    st = pd_gemm(prec, true, false, rows, cols, a->B, 1.0f, dy, rows, x, cols, 0.0f, dwd, cols);
    if (st) return st;
    /* each tap of w gathers the (o, i) pairs that use it; threads own co */
#pragma omp parallel for if (n > PD_PAR_MIN)
    for (int co = 0; co < a->Co; co++)
        for (int o = 0; o < L; o++) {
            const float *row = dwd + ((size_t)co * L + o) * cols;
            for (int i = 0; i < HW; i++) {
                int t = tap_of(a, o, i);
                if (t < 0) continue;
                for (int ci = 0; ci < a->Ci; ci++)
                    dw[((size_t)co * a->Ci + ci) * T + t] += row[(size_t)ci * HW + i];
            }
        }
    return PD_OK;
}
