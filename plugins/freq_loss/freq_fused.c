/* freq_loss fused op: the whole loss in one pass over 8x8 blocks, with its
 * backward written out (the default path; freq_composed.c is the
 * reference built from host ops).
 *
 * Forward, per image and block: gather the 8x8 RGB block of d = v_pred - v
 * through the reflect padding, mix to YCbCr, F = C X C^T per channel, and
 * add w * F^2 to a double sum. The weighted coefficients w*F are kept for
 * backward when recording. Backward: dL/dF = 2 g w F / count, X = C^T G C
 * (the inverse of an orthonormal DCT is its transpose), mixed back with
 * YCbCr^T and scatter-added through the padding (a mirrored pixel collects
 * the gradient of each of its copies). */
#include <string.h>

#include "freq_loss.h"

typedef struct fused_attr {
    const freq_loss *s;
    int B, C, H, W, Hp, Wp;
    double inv_count;    /* 1 / (B C Hp Wp) */
    float *wcoef;        /* (B, C, Hp, Wp) w * F, saved for backward; NULL when not recording */
} fused_attr;

/* F = C X C^T (8x8, row-major). */
static void dct2(const float *Cm, const float *X, float *F) {
    float T[FREQ_BLOCK_AREA];
    for (int u = 0; u < FREQ_BLOCK; u++)
        for (int n = 0; n < FREQ_BLOCK; n++) {
            float a = 0;
            for (int m = 0; m < FREQ_BLOCK; m++) a += Cm[u * FREQ_BLOCK + m] * X[m * FREQ_BLOCK + n];
            T[u * FREQ_BLOCK + n] = a;
        }
    for (int u = 0; u < FREQ_BLOCK; u++)
        for (int v = 0; v < FREQ_BLOCK; v++) {
            float a = 0;
            for (int n = 0; n < FREQ_BLOCK; n++) a += T[u * FREQ_BLOCK + n] * Cm[v * FREQ_BLOCK + n];
            F[u * FREQ_BLOCK + v] = a;
        }
}

/* X = C^T G C, the adjoint (and inverse) of dct2. */
static void idct2(const float *Cm, const float *G, float *X) {
    float T[FREQ_BLOCK_AREA];
    for (int m = 0; m < FREQ_BLOCK; m++)
        for (int v = 0; v < FREQ_BLOCK; v++) {
            float a = 0;
            for (int u = 0; u < FREQ_BLOCK; u++) a += Cm[u * FREQ_BLOCK + m] * G[u * FREQ_BLOCK + v];
            T[m * FREQ_BLOCK + v] = a;
        }
    for (int m = 0; m < FREQ_BLOCK; m++)
        for (int n = 0; n < FREQ_BLOCK; n++) {
            float a = 0;
            for (int v = 0; v < FREQ_BLOCK; v++) a += T[m * FREQ_BLOCK + v] * Cm[v * FREQ_BLOCK + n];
            X[m * FREQ_BLOCK + n] = a;
        }
}

/* Block (bi, bj) of image b, channels of the transformed image:
 * X[k][m*8+n] = sum_c M[k][c] d[b, c, refl(8bi+m), refl(8bj+n)] (M = I for C = 1). */
static void gather_block(const fused_attr *a, const float *vp, const float *v, int b, int bi,
                         int bj, float X[3][FREQ_BLOCK_AREA]) {
    size_t plane = (size_t)a->H * a->W;
    for (int m = 0; m < FREQ_BLOCK; m++) {
        int r = freq_reflect(bi * FREQ_BLOCK + m, a->H);
        for (int n = 0; n < FREQ_BLOCK; n++) {
            int c = freq_reflect(bj * FREQ_BLOCK + n, a->W);
            size_t o = (size_t)b * a->C * plane + (size_t)r * a->W + c;
            if (a->C == 1) {
                X[0][m * FREQ_BLOCK + n] = vp[o] - v[o];
                continue;
            }
            float d[3];
            for (int ch = 0; ch < 3; ch++) d[ch] = vp[o + ch * plane] - v[o + ch * plane];
            for (int k = 0; k < 3; k++)
                X[k][m * FREQ_BLOCK + n] =
                    a->s->ycbcr[k][0] * d[0] + a->s->ycbcr[k][1] * d[1] + a->s->ycbcr[k][2] * d[2];
        }
    }
}

/* in: v_pred, v (B, C, H, W) -> out () */
static pd_status fused_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    fused_attr *a = attr;
    const freq_loss *s = a->s;
    if (s->host->ctx_recording(ctx)) {
        a->wcoef = s->host->ctx_alloc(ctx, (size_t)a->B * a->C * a->Hp * a->Wp * sizeof(float));
        if (!a->wcoef) return PD_ERR_NOMEM;
    }
    double total = 0;
    float X[3][FREQ_BLOCK_AREA], F[FREQ_BLOCK_AREA];
    for (int b = 0; b < a->B; b++)
        for (int bi = 0; bi < a->Hp / FREQ_BLOCK; bi++)
            for (int bj = 0; bj < a->Wp / FREQ_BLOCK; bj++) {
                gather_block(a, in[0]->data, in[1]->data, b, bi, bj, X);
                for (int k = 0; k < a->C; k++) {
                    dct2(s->dct, X[k], F);
                    float *keep = a->wcoef ? a->wcoef + ((size_t)(b * a->C + k) * a->Hp +
                                                          (size_t)bi * FREQ_BLOCK) * a->Wp +
                                                 (size_t)bj * FREQ_BLOCK
                                           : NULL;
                    double blk = 0; /* per block first: fewer large-small additions */
                    for (int u = 0; u < FREQ_BLOCK; u++)
                        for (int v = 0; v < FREQ_BLOCK; v++) {
                            float f = F[u * FREQ_BLOCK + v], wf = s->w[k][u * FREQ_BLOCK + v] * f;
                            blk += (double)wf * f;
                            if (keep) keep[(size_t)u * a->Wp + v] = wf;
                        }
                    total += blk;
                }
            }
    out->data[0] = (float)(total * a->inv_count);
    return PD_OK;
}

static pd_status fused_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    fused_attr *a = attr;
    const freq_loss *s = a->s;
    float *gp = in[0]->grad, *gv = in[1]->grad;
    if (!gp && !gv) return PD_OK;
    if (!a->wcoef)
        return s->host->ctx_fail(ctx, PD_ERR_STATE, "freq_loss.fused: backward without saved coefficients");
    float g = (float)(2.0 * out->grad[0] * a->inv_count);
    size_t plane = (size_t)a->H * a->W;
    float G[FREQ_BLOCK_AREA], X[3][FREQ_BLOCK_AREA];
    for (int b = 0; b < a->B; b++)
        for (int bi = 0; bi < a->Hp / FREQ_BLOCK; bi++)
            for (int bj = 0; bj < a->Wp / FREQ_BLOCK; bj++) {
                for (int k = 0; k < a->C; k++) {
                    const float *keep = a->wcoef + ((size_t)(b * a->C + k) * a->Hp +
                                                    (size_t)bi * FREQ_BLOCK) * a->Wp +
                                        (size_t)bj * FREQ_BLOCK;
                    for (int u = 0; u < FREQ_BLOCK; u++)
                        for (int v = 0; v < FREQ_BLOCK; v++)
                            G[u * FREQ_BLOCK + v] = g * keep[(size_t)u * a->Wp + v];
                    idct2(s->dct, G, X[k]);
                }
                for (int m = 0; m < FREQ_BLOCK; m++) {
                    int r = freq_reflect(bi * FREQ_BLOCK + m, a->H);
                    for (int n = 0; n < FREQ_BLOCK; n++) {
                        int c = freq_reflect(bj * FREQ_BLOCK + n, a->W);
                        size_t o = (size_t)b * a->C * plane + (size_t)r * a->W + c;
                        int p = m * FREQ_BLOCK + n;
                        for (int ch = 0; ch < a->C; ch++) {
                            /* d d / d rgb[ch] = sum_k M[k][ch] dX[k] (M^T) */
                            float gd = a->C == 1 ? X[0][p]
                                                 : s->ycbcr[0][ch] * X[0][p] + s->ycbcr[1][ch] * X[1][p] +
                                                       s->ycbcr[2][ch] * X[2][p];
                            if (gp) gp[o + ch * plane] += gd;
                            if (gv) gv[o + ch * plane] -= gd;
                        }
                    }
                }
            }
    return PD_OK;
}

static const pd_op_def fused_op = {"freq_loss.fused", fused_fwd, fused_bwd};

pd_tensor *freq_loss_fused(const freq_loss *s, pd_ctx *ctx, pd_tensor *v_pred, pd_tensor *v) {
    int B = v_pred->shape[0], C = v_pred->shape[1], H = v_pred->shape[2], W = v_pred->shape[3];
    fused_attr a = {s, B, C, H, W, freq_padded(H), freq_padded(W), 0, NULL};
    a.inv_count = 1.0 / ((double)B * C * a.Hp * a.Wp);
    pd_tensor *ins[2] = {v_pred, v};
    return s->host->op_apply(ctx, &fused_op, ins, 2, NULL, 0, &a, sizeof a);
}
