/* Exact scaled dot-product attention on the GEMM seam (gemm.h, at the
 * context's precision; the reference "math" attention, plugins provide
 * faster variants). The naive loop version used to test this one is in
 * attention_naive.c.
 *
 * Threading: each (batch, head) is a few small sgemms plus a row softmax,
 * too small to split well inside one sgemm. With the OpenMP build of
 * OpenBLAS (what meson links by default), or when OpenBLAS is pinned to one
 * thread, OpenMP runs the heads in parallel, each thread with its own
 * scratch: an sgemm called inside an OpenMP region runs single-threaded in
 * that build, so the pools never nest. With the pthread build the heads run
 * one after another and OpenBLAS spreads each sgemm. */
#include <math.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "ctx_attention.h"
#include "fast_exp.h"
#include "gemm.h"
#include "op_util.h"
#include "tape.h"

typedef struct {
    int bh, n, m, d;  /* batch*heads, queries, keys, head dim */
    float scale;
    float *p;         /* (B*H, N, M) softmax probabilities, arena; NULL if not recording */
} sdpa_attr;

/* Threads to run (b, h) on: >1 when an sgemm inside an OpenMP region is
 * single-threaded (OpenMP build, openblas_get_parallel() == 2) or OpenBLAS
 * is pinned to one thread. */
static int head_threads(int bh) {
#ifdef _OPENMP
    if (bh > 1 && pd_blas_serial_in_parallel()) {
        int t = omp_get_max_threads();
        return t < bh ? t : bh;
    }
#endif
    (void)bh;
    return 1;
}

/* Records a pd_gemm failure from any thread of the head loop. */
static inline void keep_failure(int *failed, pd_status st) {
    if (st) {
#pragma omp atomic write
        *failed = (int)st;
    }
}

/* Stable softmax of rows (rows, cols) in place; rows in parallel when the
 * caller is not already parallel over heads. */
static void softmax_rows(float *p, int rows, int cols, bool par) {
#pragma omp parallel for if (par && (size_t)rows * cols > PD_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        pd_softmax_row(p + (size_t)r * cols, p + (size_t)r * cols, cols);
    }
}

/* q (BH, N, d), k, v (BH, M, d) -> o (BH, N, d). */
static pd_status sdpa_fwd(pd_ctx *ctx, pd_tensor *o, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    sdpa_attr *at = attr;
    int N = at->n, M = at->m, d = at->d, BH = at->bh;
    int nt = head_threads(BH);
    size_t nm = (size_t)N * M;
    /* Recording: P for every head, kept for backward. Otherwise: one
     * (N, M) scratch per thread. */
    bool keep = pd_ctx_recording(ctx);
    float *pbuf = pd_ctx_alloc(ctx, (keep ? (size_t)BH : (size_t)nt) * nm * sizeof(float));
    if (!pbuf) return pd_ctx_status(ctx);
    if (keep) at->p = pbuf;
    const float *q = in[0]->data, *k = in[1]->data, *v = in[2]->data;
    pd_precision prec = pd_ctx_precision(ctx);
    int failed = 0; /* a pd_gemm status, from any thread */
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int i = 0; i < BH; i++) {
        float *p = pbuf + (keep ? (size_t)i : (size_t)pd_thread_id()) * nm;
        const float *qi = q + (size_t)i * N * d, *ki = k + (size_t)i * M * d,
                    *vi = v + (size_t)i * M * d;
        /* S (N, M) = scale * q (N, d) k^T (d, M) */
        pd_status st = pd_gemm(prec, false, true, N, M, d, at->scale, qi, d, ki, d, 0.0f, p, M);
        softmax_rows(p, N, M, nt == 1);
        /* o (N, d) = P (N, M) v (M, d) */
        if (!st)
            st = pd_gemm(prec, false, false, N, d, M, 1.0f, p, M, vi, d, 0.0f,
                         o->data + (size_t)i * N * d, d);
        keep_failure(&failed, st);
    }
    return (pd_status)failed;
}

/* dV = P^T dO;  dP = dO V^T;  dS = P * (dP - rowsum(dP * P));
 * dQ = scale dS K;  dK = scale dS^T Q. Each accumulates into its gradient,
 * or stores where that is still unset (PD_OPF_GRAD_OVERWRITE). */
static pd_status sdpa_bwd(pd_ctx *ctx, pd_tensor *o, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    const sdpa_attr *at = attr;
    pd_tensor *qt = in[0], *kt = in[1], *vt = in[2];
    int N = at->n, M = at->m, d = at->d, BH = at->bh;
    int nt = head_threads(BH);
    size_t nm = (size_t)N * M;
    bool need_ds = qt->grad || kt->grad;
    float *dsbuf = NULL;
    if (need_ds) {
        dsbuf = pd_ctx_alloc(ctx, (size_t)nt * nm * sizeof(float));
        if (!dsbuf) return pd_ctx_status(ctx);
    }
    float scale = at->scale;
    /* sgemm betas: 0 stores into a gradient not written yet this step */
    float bq = qt->grad ? pd_grad_beta(qt) : 1.0f, bk = kt->grad ? pd_grad_beta(kt) : 1.0f;
    float bv = vt->grad ? pd_grad_beta(vt) : 1.0f;
    pd_precision prec = pd_ctx_precision(ctx);
    int failed = 0; /* a pd_gemm status, from any thread */
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int i = 0; i < BH; i++) {
        const float *p = at->p + (size_t)i * nm, *dout = o->grad + (size_t)i * N * d;
        size_t qo = (size_t)i * N * d, ko = (size_t)i * M * d;
        pd_status st = PD_OK;
        if (vt->grad) /* dV (M, d) += P^T (M, N) dO (N, d) */
            st = pd_gemm(prec, true, false, M, d, N, 1.0f, p, M, dout, d, bv, vt->grad + ko, d);
        float *ds = dsbuf ? dsbuf + (size_t)pd_thread_id() * nm : NULL;
        /* dP (N, M) = dO (N, d) V^T (d, M) */
        if (need_ds && !st)
            st = pd_gemm(prec, false, true, N, M, d, 1.0f, dout, d, vt->data + ko, d, 0.0f, ds, M);
        if (!need_ds || st) {
            keep_failure(&failed, st);
            continue;
        }
#pragma omp parallel for if (nt == 1 && nm > PD_PAR_MIN)
        for (int r = 0; r < N; r++) {
            const float *restrict pr = p + (size_t)r * M;
            float *restrict dr = ds + (size_t)r * M;
            float dot = 0.0f;
            for (int c = 0; c < M; c++) dot += pr[c] * dr[c];
            for (int c = 0; c < M; c++) dr[c] = pr[c] * (dr[c] - dot);
        }
        if (qt->grad) /* dQ (N, d) += scale dS (N, M) K (M, d) */
            st = pd_gemm(prec, false, false, N, d, M, scale, ds, M, kt->data + ko, d, bq,
                         qt->grad + qo, d);
        if (kt->grad && !st) /* dK (M, d) += scale dS^T (M, N) Q (N, d) */
            st = pd_gemm(prec, true, false, M, d, N, scale, ds, M, qt->data + qo, d, bk,
                         kt->grad + ko, d);
        keep_failure(&failed, st);
    }
    return (pd_status)failed;
}

static const pd_op_def sdpa_op = {"sdpa", sdpa_fwd, sdpa_bwd};

pd_tensor *pd_sdpa(pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v, float scale) {
    PD_OP_GUARD(ctx, q, k, v);
    bool ok = q->ndim == 4 && k->ndim == 4 && v->ndim == 4;
    for (int i = 0; ok && i < 4; i++) {
        if (i != 2 && (k->shape[i] != q->shape[i] || v->shape[i] != q->shape[i])) ok = false;
        if (k->shape[i] != v->shape[i]) ok = false;
    }
    if (!ok) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "sdpa: q %s, k %s, v %s: expected q (B, H, N, d) and k, v (B, H, M, d)", SHP(q),
                    SHP(k), SHP(v));
        return NULL;
    }
    if (q->numel == 0 || k->numel == 0) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "sdpa: q %s, k %s: empty attention (no queries or keys)",
                    SHP(q), SHP(k));
        return NULL;
    }
    sdpa_attr at = {q->shape[0] * q->shape[1], q->shape[2], k->shape[2], q->shape[3], scale, NULL};
    pd_tensor *ins[3] = {q, k, v};
    return pd_op_apply_flags(ctx, &sdpa_op, PD_OPF_GRAD_OVERWRITE, ins, 3, q->shape, 4, &at,
                             sizeof at);
}

/* ---- the host's attention entry (ctx_attention.h) ------------------------- */

pd_tensor *pd_attention_bound(pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v, float scale) {
    if (!ctx) return NULL;
    pd_attention_binding b = pd_ctx_bound_attention(ctx);
    if (!b.fn) return pd_sdpa(ctx, q, k, v, scale);
    pd_ctx_bind_attention(ctx, (pd_attention_binding){0}); /* a nested call gets sdpa */
    pd_tensor *o = b.fn(b.state, ctx, q, k, v, scale);
    pd_ctx_bind_attention(ctx, b);
    return o;
}
