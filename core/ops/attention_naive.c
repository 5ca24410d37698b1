/* Naive loop reference for scaled dot-product attention: no BLAS, no
 * threads, double accumulators. Slow on purpose; it is what the sgemm
 * kernel in attention.c is tested against. */
#include <math.h>

#include "attention_naive.h"
#include "op_util.h"

typedef struct {
    int bh, n, m, d;
    float scale;
    float *p;  /* (B*H, N, M) probabilities, arena; kept for backward */
} sdpa_naive_attr;

/* q (BH, N, d), k, v (BH, M, d) -> o (BH, N, d). */
static pd_status naive_fwd(pd_ctx *ctx, pd_tensor *o, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    sdpa_naive_attr *at = attr;
    int N = at->n, M = at->m, d = at->d;
    float *p = pd_ctx_alloc(ctx, (size_t)at->bh * N * M * sizeof(float));
    if (!p) return pd_ctx_status(ctx);
    at->p = p;
    const float *q = in[0]->data, *k = in[1]->data, *v = in[2]->data;
    for (int b = 0; b < at->bh; b++)
        for (int i = 0; i < N; i++) {
            const float *qi = q + ((size_t)b * N + i) * d;
            float *pi = p + ((size_t)b * N + i) * M;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < M; j++) {
                const float *kj = k + ((size_t)b * M + j) * d;
                double s = 0;
                for (int c = 0; c < d; c++) s += (double)qi[c] * kj[c];
                pi[j] = (float)(s * at->scale);
                if (pi[j] > mx) mx = pi[j];
            }
            for (int j = 0; j < M; j++) sum += exp(pi[j] - mx);
            for (int j = 0; j < M; j++) pi[j] = (float)(exp(pi[j] - mx) / sum);
            for (int c = 0; c < d; c++) {
                double acc = 0;
                for (int j = 0; j < M; j++) acc += (double)pi[j] * v[((size_t)b * M + j) * d + c];
                o->data[((size_t)b * N + i) * d + c] = (float)acc;
            }
        }
    return PD_OK;
}

/* dL/dS_ij = P_ij (dP_ij - sum_l P_il dP_il), dP_ij = dO_i . v_j. */
static pd_status naive_bwd(pd_ctx *ctx, pd_tensor *o, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    const sdpa_naive_attr *at = attr;
    pd_tensor *qt = in[0], *kt = in[1], *vt = in[2];
    int N = at->n, M = at->m, d = at->d;
    double *dp = pd_ctx_alloc(ctx, (size_t)M * sizeof(double)); /* dP of one query row (M) */
    if (!dp) return pd_ctx_status(ctx);
    for (int b = 0; b < at->bh; b++)
        for (int i = 0; i < N; i++) {
            const float *pi = at->p + ((size_t)b * N + i) * M;
            const float *doi = o->grad + ((size_t)b * N + i) * d;
            const float *qi = qt->data + ((size_t)b * N + i) * d;
            double dot = 0;
            for (int j = 0; j < M; j++) {
                const float *vj = vt->data + ((size_t)b * M + j) * d;
                double s = 0;
                for (int c = 0; c < d; c++) s += (double)doi[c] * vj[c];
                dp[j] = s;
                dot += s * pi[j];
            }
            for (int j = 0; j < M; j++) {
                double ds = pi[j] * (dp[j] - dot) * at->scale;
                size_t jo = ((size_t)b * M + j) * d;
                for (int c = 0; c < d; c++) {
                    if (vt->grad) vt->grad[jo + c] += (float)((double)pi[j] * doi[c]);
                    if (qt->grad) qt->grad[((size_t)b * N + i) * d + c] += (float)(ds * kt->data[jo + c]);
                    if (kt->grad) kt->grad[jo + c] += (float)(ds * qi[c]);
                }
            }
        }
    return PD_OK;
}

static const pd_op_def sdpa_naive_op = {"sdpa_naive", naive_fwd, naive_bwd};

pd_tensor *pd_sdpa_naive(pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v, float scale) {
    PD_OP_GUARD(ctx, q, k, v);
    bool ok = q->ndim == 4 && k->ndim == 4 && v->ndim == 4;
    for (int i = 0; ok && i < 4; i++)
        if ((i != 2 && k->shape[i] != q->shape[i]) || k->shape[i] != v->shape[i]) ok = false;
    if (!ok || q->numel == 0 || k->numel == 0) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "sdpa_naive: q %s, k %s, v %s: expected q (B, H, N, d), k, v (B, H, M, d), non-empty",
                    SHP(q), SHP(k), SHP(v));
        return NULL;
    }
    sdpa_naive_attr at = {q->shape[0] * q->shape[1], q->shape[2], k->shape[2], q->shape[3], scale,
                          NULL};
    pd_tensor *ins[3] = {q, k, v};
    return pd_op_apply(ctx, &sdpa_naive_op, ins, 3, q->shape, 4, &at, sizeof at);
}
