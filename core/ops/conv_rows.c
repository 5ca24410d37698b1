/* conv2d (stride 1, one group) on images a few pixels wide, as one product
 * per output row over the band of input rows it sees.
 *
 * In the layout (B, H, C, W), rows outermost within an image, the input
 * rows iy in [lo, hi) that output row oy reaches (kernel rows
 * ky = iy - oy + pad) are one run of (hi - lo)*Ci*W floats, and output row
 * oy of y (B, Ho, Co, Wo) is one run of Co*Wo floats. So
 *   yt[:, oy] (B, Co*Wo) = xt[:, lo:hi] (B, (hi-lo)*Ci*W) @ Wb_oy^T
 * with Wb_oy (Co*Wo, (hi-lo)*Ci*W) holding w[co, ci, iy-oy+pad, ix-ox+pad]
 * where that tap lies inside the kernel and 0 elsewhere: no im2col, and
 * the whole batch is the rows of each product. The zeros are the columns a
 * kernel row does not reach (W per output pixel and kernel row, against
 * kw), so the path is taken only where it does at most 5/4 of im2col's
 * multiply-adds: DiP's 3x3 convolutions on 4x4 patches do 160 against 144,
 * where im2col spent more time writing its 9x columns (300 MB a call at
 * B*N = 4096 patches) than multiplying. The permutations to and from NCHW
 * are one pass each.
 *
 * Backward: dxt[:, lo:hi] += dyt[:, oy] @ Wb_oy (output rows in order: the
 * bands overlap), dWb_oy = dyt[:, oy]^T @ xt[:, lo:hi], folded back onto
 * the taps in row order. */
#include <string.h>

#include "conv_internal.h"
#include "gemm.h"

#define ROWS_MAX_WEIGHT_FLOATS ((size_t)4 << 20)

/* Input rows [lo, hi) that output row oy sees (stride 1). */
static void band(const conv_attr *a, int oy, int *lo, int *hi) {
    int top = oy - a->pad;
    *lo = top < 0 ? 0 : top;
    *hi = top + a->kh < a->H ? top + a->kh : a->H;
}

/* Floats of all the band weights Wb_0 .. Wb_{Ho-1}. */
static size_t band_weight_floats(const conv_attr *a) {
    size_t n = 0;
    for (int oy = 0; oy < a->Ho; oy++) {
        int lo, hi;
        band(a, oy, &lo, &hi);
        n += (size_t)a->Co * a->Wo * (size_t)(hi - lo) * a->Ci * a->W;
    }
    return n;
}

bool pd_conv_rows_fits(const conv_attr *a) {
    if (a->groups != 1 || a->stride != 1) return false;
    /* multiply-adds per (ci, co) pair: the bands' against im2col's */
    long long rows = 0, im2col = (long long)a->Ho * a->Wo * a->kh * a->kw;
    for (int oy = 0; oy < a->Ho; oy++) {
        int lo, hi;
        band(a, oy, &lo, &hi);
        if (hi <= lo) return false; /* a row of padding only */
        rows += (long long)(hi - lo) * a->W * a->Wo;
    }
    return 4 * rows <= 5 * im2col && band_weight_floats(a) <= ROWS_MAX_WEIGHT_FLOATS;
}

/* dst (B, R, C, S) from src (B, C, R, S): swaps the middle axes. */
static void swap_mid(float *restrict dst, const float *restrict src, int B, int C, int R, int S) {
    size_t per = (size_t)C * R * S;
#pragma omp parallel for if ((size_t)B * per > PD_PAR_MIN)
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++)
            for (int r = 0; r < R; r++) {
                const float *s = src + n * per + ((size_t)c * R + r) * S;
                float *d = dst + n * per + ((size_t)r * C + c) * S;
                for (int i = 0; i < S; i++) d[i] = s[i];
            }
}

/* The tap (ky, kx) linking output (oy, ox) to input (iy, ix), or -1. */
static int tap(const conv_attr *a, int oy, int ox, int iy, int ix) {
    int ky = iy - oy + a->pad, kx = ix - ox + a->pad;
    return ky >= 0 && ky < a->kh && kx >= 0 && kx < a->kw ? ky * a->kw + kx : -1;
}

/* The band weights and the kernel, both ways, one loop for the adjoint
 * pair: with w given, every Wb_oy (one after another in wb) is built from
 * w (Co, Ci, kh, kw), 0 where no tap applies; with dw given, each tap of
 * dw gathers the band gradients (in wb) of the (output, input) pairs that
 * use it. Threads own co; output rows go in order. */
static void band_taps(const conv_attr *a, const float *w, float *wb, float *dw) {
    int T = a->kh * a->kw;
    for (int oy = 0; oy < a->Ho; oy++) {
        int lo, hi;
        band(a, oy, &lo, &hi);
        size_t kb = (size_t)(hi - lo) * a->Ci * a->W;
#pragma omp parallel for if ((size_t)a->Co * a->Wo * kb > PD_PAR_MIN)
        for (int co = 0; co < a->Co; co++)
            for (int ox = 0; ox < a->Wo; ox++) {
                float *row = wb + ((size_t)co * a->Wo + ox) * kb;
                for (int iy = lo; iy < hi; iy++)
                    for (int ix = 0; ix < a->W; ix++) {
                        int t = tap(a, oy, ox, iy, ix);
                        float *r = row + (size_t)(iy - lo) * a->Ci * a->W + ix;
                        size_t k = (size_t)co * a->Ci * T + t;
                        if (w)
                            for (int ci = 0; ci < a->Ci; ci++)
                                r[(size_t)ci * a->W] = t < 0 ? 0.0f : w[k + (size_t)ci * T];
                        else if (t >= 0)
                            for (int ci = 0; ci < a->Ci; ci++) dw[k + (size_t)ci * T] += r[(size_t)ci * a->W];
                    }
            }
        wb += (size_t)a->Co * a->Wo * kb;
    }
}

pd_status pd_conv_rows_fwd(pd_ctx *ctx, const conv_attr *a, const float *x, const float *w,
                           const float *b, float *y) {
    size_t nx = (size_t)a->B * a->Ci * a->H * a->W, ny = (size_t)a->B * a->Co * a->Ho * a->Wo;
    float *xt = pd_ctx_scratch(ctx, (nx + ny + band_weight_floats(a)) * sizeof(float));
    if (!xt) return PD_ERR_NOMEM;
    float *yt = xt + nx, *wb = yt + ny; /* (B, H, Ci, W), (B, Ho, Co, Wo), bands */
    swap_mid(xt, x, a->B, a->Ci, a->H, a->W);
    band_taps(a, w, wb, NULL);
    pd_precision prec = pd_ctx_precision(ctx);
    int ldx = a->H * a->Ci * a->W, ldy = a->Ho * a->Co * a->Wo, n = a->Co * a->Wo;
    for (int oy = 0; oy < a->Ho; oy++) {
        int lo, hi;
        band(a, oy, &lo, &hi);
        int kb = (hi - lo) * a->Ci * a->W;
        /* yt[:, oy] (B, Co*Wo) = xt[:, lo:hi] (B, kb) @ Wb_oy^T (kb, Co*Wo) */
        pd_status st = pd_gemm(prec, false, true, a->B, n, kb, 1.0f, xt + (size_t)lo * a->Ci * a->W,
                               ldx, wb, kb, 0.0f, yt + (size_t)oy * n, ldy);
        if (st) return st;
        wb += (size_t)n * kb;
    }
    swap_mid(y, yt, a->B, a->Ho, a->Co, a->Wo);
    if (!b) return PD_OK;
    size_t L = (size_t)a->Ho * a->Wo;
#pragma omp parallel for if (ny > PD_PAR_MIN)
    for (int i = 0; i < a->B; i++)
        for (int co = 0; co < a->Co; co++) {
            float *p = y + ((size_t)i * a->Co + co) * L;
            for (size_t o = 0; o < L; o++) p[o] += b[co];
        }
    return PD_OK;
}

pd_status pd_conv_rows_bwd(pd_ctx *ctx, const conv_attr *a, const float *x, const float *w,
                           const float *dy, float *dx, float *dw) {
    size_t nx = (size_t)a->B * a->Ci * a->H * a->W, ny = (size_t)a->B * a->Co * a->Ho * a->Wo;
    size_t nwb = band_weight_floats(a);
    float *dyt = pd_ctx_scratch(ctx, (ny + nx + nwb) * sizeof(float));
    if (!dyt) return PD_ERR_NOMEM;
    float *xt = dyt + ny, *wb = xt + nx; /* xt: dxt, then xt; wb: Wb, then dWb */
    swap_mid(dyt, dy, a->B, a->Co, a->Ho, a->Wo);                /* (B, Ho, Co, Wo) */
    pd_precision prec = pd_ctx_precision(ctx);
    int ldx = a->H * a->Ci * a->W, ldy = a->Ho * a->Co * a->Wo, n = a->Co * a->Wo;
    if (dx) {
        band_taps(a, w, wb, NULL);
        memset(xt, 0, nx * sizeof(float));
        const float *wbo = wb;
        for (int oy = 0; oy < a->Ho; oy++) {
            int lo, hi;
            band(a, oy, &lo, &hi);
            int kb = (hi - lo) * a->Ci * a->W;
            /* dxt[:, lo:hi] (B, kb) += dyt[:, oy] (B, Co*Wo) @ Wb_oy (Co*Wo, kb) */
            pd_status st = pd_gemm(prec, false, false, a->B, kb, n, 1.0f, dyt + (size_t)oy * n, ldy,
                                   wbo, kb, 1.0f, xt + (size_t)lo * a->Ci * a->W, ldx);
            if (st) return st;
            wbo += (size_t)n * kb;
        }
        /* dx (B, Ci, H, W) += dxt (B, H, Ci, W) */
        size_t per = (size_t)a->Ci * a->H * a->W;
#pragma omp parallel for if (nx > PD_PAR_MIN)
        for (int i = 0; i < a->B; i++)
            for (int ci = 0; ci < a->Ci; ci++)
                for (int iy = 0; iy < a->H; iy++) {
                    const float *s = xt + i * per + ((size_t)iy * a->Ci + ci) * a->W;
                    float *d = dx + i * per + ((size_t)ci * a->H + iy) * a->W;
                    for (int ix = 0; ix < a->W; ix++) d[ix] += s[ix];
                }
    }
    if (!dw) return PD_OK;
    swap_mid(xt, x, a->B, a->Ci, a->H, a->W);                    /* (B, H, Ci, W) */
    float *dwbo = wb;
    for (int oy = 0; oy < a->Ho; oy++) {
        int lo, hi;
        band(a, oy, &lo, &hi);
        int kb = (hi - lo) * a->Ci * a->W;
        /* dWb_oy (Co*Wo, kb) = dyt[:, oy]^T (Co*Wo, B) @ xt[:, lo:hi] (B, kb) */
        pd_status st = pd_gemm(prec, true, false, n, kb, a->B, 1.0f, dyt + (size_t)oy * n, ldy,
                               xt + (size_t)lo * a->Ci * a->W, ldx, 0.0f, dwbo, kb);
        if (st) return st;
        dwbo += (size_t)n * kb;
    }
    band_taps(a, NULL, wb, dw);
    return PD_OK;
}
