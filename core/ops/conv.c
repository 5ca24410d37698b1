/* 2-D convolution (im2col + sgemm per image) and the 2x2 stride-2
 * transposed convolution (one sgemm per image plus a scatter), NCHW.
 * Column scratch is malloc'd per call and freed at once: it can be far
 * larger than the activations and must not pile up in the step arena. */
#include <cblas.h>
#include <stdlib.h>

#include "op_util.h"

typedef struct {
    int B, Ci, H, W;      /* input */
    int Co, kh, kw;       /* weight (Co, Ci, kh, kw) */
    int stride, pad;
    int Ho, Wo;           /* output */
} conv_attr;

/* 1x1, stride 1, no padding: the image itself is the column matrix. */
static bool conv_is_pointwise(const conv_attr *a) {
    return a->kh == 1 && a->kw == 1 && a->stride == 1 && a->pad == 0;
}

/* img (Ci, H, W) -> cols (Ci*kh*kw, Ho*Wo), row (ci*kh + ky)*kw + kx matching
 * the flattened weight; taps that fall in the padding read 0. */
static void im2col(const conv_attr *a, const float *img, float *cols) {
    int K = a->Ci * a->kh * a->kw, L = a->Ho * a->Wo;
#pragma omp parallel for if ((size_t)K * L > PD_PAR_MIN)
    for (int k = 0; k < K; k++) {
        int kx = k % a->kw, ky = (k / a->kw) % a->kh, ci = k / (a->kw * a->kh);
        const float *plane = img + (size_t)ci * a->H * a->W;
        float *row = cols + (size_t)k * L;
        for (int oy = 0; oy < a->Ho; oy++) {
            int iy = oy * a->stride - a->pad + ky;
            float *dst = row + (size_t)oy * a->Wo;
            if (iy < 0 || iy >= a->H) {
                memset(dst, 0, (size_t)a->Wo * sizeof(float));
                continue;
            }
            const float *src = plane + (size_t)iy * a->W;
            for (int ox = 0; ox < a->Wo; ox++) {
                int ix = ox * a->stride - a->pad + kx;
                dst[ox] = (ix >= 0 && ix < a->W) ? src[ix] : 0.0f;
            }
        }
    }
}

/* Adjoint of im2col: img (Ci, H, W) += scatter of cols. Threads own whole
 * input channels, so overlapping windows never race. */
static void col2im_add(const conv_attr *a, const float *cols, float *img) {
    int L = a->Ho * a->Wo, taps = a->kh * a->kw;
#pragma omp parallel for if ((size_t)a->Ci * taps * L > PD_PAR_MIN)
    for (int ci = 0; ci < a->Ci; ci++) {
        float *plane = img + (size_t)ci * a->H * a->W;
        for (int t = 0; t < taps; t++) {
            int ky = t / a->kw, kx = t % a->kw;
            const float *row = cols + ((size_t)ci * taps + t) * L;
            for (int oy = 0; oy < a->Ho; oy++) {
                int iy = oy * a->stride - a->pad + ky;
                if (iy < 0 || iy >= a->H) continue;
                float *dst = plane + (size_t)iy * a->W;
                const float *src = row + (size_t)oy * a->Wo;
                for (int ox = 0; ox < a->Wo; ox++) {
                    int ix = ox * a->stride - a->pad + kx;
                    if (ix >= 0 && ix < a->W) dst[ix] += src[ox];
                }
            }
        }
    }
}

/* db (C) += sums of dy (B, C, L) over batch and space. */
static void bias_grad_add(float *db, const float *dy, int B, int C, size_t L) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            const float *p = dy + ((size_t)b * C + c) * L;
            double s = 0;
            for (size_t i = 0; i < L; i++) s += p[i];
            db[c] += (float)s;
        }
}

static float *conv_scratch(pd_ctx *ctx, const char *op, size_t n) {
    float *p = malloc(n * sizeof(float));
    if (!p) pd_ctx_fail(ctx, PD_ERR_NOMEM, "%s: cannot allocate %zu bytes of column scratch", op,
                        n * sizeof(float));
    return p;
}

/* ---- conv2d --------------------------------------------------------------- */
/* x (B, Ci, H, W), w (Co, Ci, kh, kw) = (Co, K), b (Co) -> y (B, Co, Ho, Wo);
 * per image y_b (Co, L) = w (Co, K) @ cols (K, L). */

static pd_status conv2d_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    const conv_attr *a = attr;
    const pd_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    int K = a->Ci * a->kh * a->kw, L = a->Ho * a->Wo;
    bool direct = conv_is_pointwise(a);
    float *cols = direct ? NULL : conv_scratch(ctx, "conv2d", (size_t)K * L);
    if (!direct && !cols) return PD_ERR_NOMEM;
    for (int n = 0; n < a->B; n++) {
        const float *xn = x->data + (size_t)n * a->Ci * a->H * a->W;
        float *yn = y->data + (size_t)n * a->Co * L;
        if (!direct) im2col(a, xn, cols);
        if (b)
            for (int co = 0; co < a->Co; co++)
                for (int i = 0; i < L; i++) yn[(size_t)co * L + i] = b->data[co];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a->Co, L, K, 1.0f, w->data, K,
                    direct ? xn : cols, L, b ? 1.0f : 0.0f, yn, L);
    }
    free(cols);
    return PD_OK;
}

/* dw (Co, K) += dy_b (Co, L) @ cols^T; dcols (K, L) = w^T @ dy_b, then
 * col2im into dx; db += sums of dy. cols are rebuilt rather than kept. */
static pd_status conv2d_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    const conv_attr *a = attr;
    pd_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    int K = a->Ci * a->kh * a->kw, L = a->Ho * a->Wo;
    bool direct = conv_is_pointwise(a);
    float *cols = NULL;
    if (!direct && (x->grad || w->grad)) {
        cols = conv_scratch(ctx, "conv2d backward", (size_t)K * L);
        if (!cols) return PD_ERR_NOMEM;
    }
    for (int n = 0; n < a->B; n++) {
        const float *xn = x->data + (size_t)n * a->Ci * a->H * a->W;
        const float *dyn = y->grad + (size_t)n * a->Co * L;
        if (w->grad) {
            if (!direct) im2col(a, xn, cols);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a->Co, K, L, 1.0f, dyn, L,
                        direct ? xn : cols, L, 1.0f, w->grad, K);
        }
        if (x->grad) {
            float *dxn = x->grad + (size_t)n * a->Ci * a->H * a->W;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, L, a->Co, 1.0f, w->data, K, dyn,
                        L, direct ? 1.0f : 0.0f, direct ? dxn : cols, L);
            if (!direct) col2im_add(a, cols, dxn);
        }
    }
    free(cols);
    if (b && b->grad) bias_grad_add(b->grad, y->grad, a->B, a->Co, (size_t)L);
    return PD_OK;
}

static const pd_op_def conv2d_op = {"conv2d", conv2d_fwd, conv2d_bwd};

pd_tensor *pd_conv2d(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b, int stride, int pad) {
    PD_OP_GUARD(ctx, x, w);
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[1]) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "conv2d: x %s and w %s: expected x (B, Ci, H, W) and w (Co, Ci, kh, kw)", SHP(x),
                    SHP(w));
        return NULL;
    }
    if (stride < 1 || pad < 0) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "conv2d: stride %d must be >= 1 and pad %d >= 0 (x %s, w %s)",
                    stride, pad, SHP(x), SHP(w));
        return NULL;
    }
    conv_attr a = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2],
                   w->shape[3], stride, pad, 0, 0};
    if (a.H + 2 * pad < a.kh || a.W + 2 * pad < a.kw) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "conv2d: kernel of w %s is larger than x %s padded by %d",
                    SHP(w), SHP(x), pad);
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != a.Co)) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "conv2d: b %s does not match w %s: expected (%d,)", SHP(b),
                    SHP(w), a.Co);
        return NULL;
    }
    a.Ho = (a.H + 2 * pad - a.kh) / stride + 1;
    a.Wo = (a.W + 2 * pad - a.kw) / stride + 1;
    int shape[4] = {a.B, a.Co, a.Ho, a.Wo};
    pd_tensor *ins[3] = {x, w, b};
    return pd_op_apply(ctx, &conv2d_op, ins, b ? 3 : 2, shape, 4, &a, sizeof a);
}

/* ---- conv_transpose2x2 ------------------------------------------------------- */
/* x (B, Ci, H, W), w (Ci, Co, 2, 2) = (Ci, Co*4), b (Co) -> y (B, Co, 2H, 2W).
 * Per image t (Co*4, HW) = w^T @ x_b (Ci, HW); row (co*4 + ky*2 + kx) of t
 * holds the (ky, kx) corner of every output 2x2 block. Blocks never overlap,
 * so forward scatters t into y and backward gathers dy back into t. */

typedef struct { int B, Ci, H, W, Co; } convt_attr;

/* Moves between t (Co*4, HW) and y_b (Co, 2H, 2W); gather = y -> t. */
static void convt_shuffle(const convt_attr *a, float *t, float *yb, const float *bias, bool gather) {
    size_t HW = (size_t)a->H * a->W, W2 = 2 * (size_t)a->W;
#pragma omp parallel for if ((size_t)a->Co * 4 * HW > PD_PAR_MIN)
    for (int co = 0; co < a->Co; co++) {
        float bc = bias ? bias[co] : 0.0f;
        for (int k = 0; k < 4; k++) {
            int ky = k / 2, kx = k % 2;
            float *trow = t + ((size_t)co * 4 + k) * HW;
            for (int i = 0; i < a->H; i++) {
                float *yrow = yb + ((size_t)co * 2 * a->H + 2 * i + ky) * W2 + kx;
                float *tp = trow + (size_t)i * a->W;
                if (gather)
                    for (int j = 0; j < a->W; j++) tp[j] = yrow[2 * j];
                else
                    for (int j = 0; j < a->W; j++) yrow[2 * j] = tp[j] + bc;
            }
        }
    }
}

static pd_status convt_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    const convt_attr *a = attr;
    const pd_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    int HW = a->H * a->W, M = a->Co * 4;
    float *t = conv_scratch(ctx, "conv_transpose2x2", (size_t)M * HW);
    if (!t) return PD_ERR_NOMEM;
    for (int n = 0; n < a->B; n++) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, HW, a->Ci, 1.0f, w->data, M,
                    x->data + (size_t)n * a->Ci * HW, HW, 0.0f, t, HW);
        convt_shuffle(a, t, y->data + (size_t)n * M * HW, b ? b->data : NULL, false);
    }
    free(t);
    return PD_OK;
}

/* dt = gather(dy_b); dx_b (Ci, HW) += w (Ci, Co*4) @ dt; dw += x_b @ dt^T. */
static pd_status convt_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    const convt_attr *a = attr;
    pd_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    int HW = a->H * a->W, M = a->Co * 4;
    if (x->grad || w->grad) {
        float *dt = conv_scratch(ctx, "conv_transpose2x2 backward", (size_t)M * HW);
        if (!dt) return PD_ERR_NOMEM;
        for (int n = 0; n < a->B; n++) {
            convt_shuffle(a, dt, y->grad + (size_t)n * M * HW, NULL, true);
            size_t xo = (size_t)n * a->Ci * HW;
            if (x->grad)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a->Ci, HW, M, 1.0f, w->data,
                            M, dt, HW, 1.0f, x->grad + xo, HW);
            if (w->grad)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a->Ci, M, HW, 1.0f,
                            x->data + xo, HW, dt, HW, 1.0f, w->grad, M);
        }
        free(dt);
    }
    if (b && b->grad) bias_grad_add(b->grad, y->grad, a->B, a->Co, (size_t)4 * HW);
    return PD_OK;
}

static const pd_op_def convt_op = {"conv_transpose2x2", convt_fwd, convt_bwd};

pd_tensor *pd_conv_transpose2x2(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b) {
    PD_OP_GUARD(ctx, x, w);
    if (x->ndim != 4 || w->ndim != 4 || w->shape[0] != x->shape[1] || w->shape[2] != 2 ||
        w->shape[3] != 2) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "conv_transpose2x2: x %s and w %s: expected x (B, Ci, H, W) and w (Ci, Co, 2, 2)",
                    SHP(x), SHP(w));
        return NULL;
    }
    convt_attr a = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[1]};
    if (b && (b->ndim != 1 || b->shape[0] != a.Co)) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "conv_transpose2x2: b %s does not match w %s: expected (%d,)",
                    SHP(b), SHP(w), a.Co);
        return NULL;
    }
    int shape[4] = {a.B, a.Co, 2 * a.H, 2 * a.W};
    pd_tensor *ins[3] = {x, w, b};
    return pd_op_apply(ctx, &convt_op, ins, b ? 3 : 2, shape, 4, &a, sizeof a);
}
