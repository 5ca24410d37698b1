/* Fused attention input: the qkv projection's output (B, N, 3 H hd) is split
 * into heads, q and k get RMSNorm over the head dim (qk-norm) and 2D RoPE,
 * and the result is laid out (3, B, H, N, hd) for the attention kernel.
 *
 * Composed reference (what JiT's code does, and what tests/unit/test_fused.c
 * compares against): reshape (B, N, 3, H, hd), permute to (3, B, H, N, hd),
 * slice q, k, v, then pd_rope(pd_rmsnorm(q, q_w)) and likewise for k. That is
 * five passes over q and k and a copy of v each way; this is one, with the
 * same arithmetic in the same order. */
#include <math.h>

#include "op_util.h"
#include "tape.h"
#include "rope_rotate.h"
#include "row_stats.h"

typedef struct {
    int B, N, H, hd;
    int norm;                /* q_w, k_w given: qk-norm */
    float eps;
    const float *cos, *sin;  /* (>= N, hd/2) RoPE table rows; NULL: no RoPE */
    float *rstd;             /* (2, B, H, N), arena; NULL when not recording */
} qkv_attr;

/* Row (part, b, h, n) of the output, and its source row in qkv. */
static inline size_t out_row(const qkv_attr *a, int part, int b, int h, int n) {
    return (((size_t)part * a->B + b) * a->H + h) * a->N + n;
}
static inline size_t src_off(const qkv_attr *a, int b, int n, int part, int h) {
    return ((((size_t)b * a->N + n) * 3 + part) * a->H + h) * a->hd;
}

/* The RoPE table row of token n (cos, sin), or NULLs without RoPE. */
static inline void rope_row(const qkv_attr *a, int n, const float **cs, const float **sn) {
    size_t off = (size_t)n * (a->hd / 2);
    *cs = a->cos ? a->cos + off : NULL;
    *sn = a->sin ? a->sin + off : NULL;
}

/* inputs: qkv, [q_w, k_w] */
static pd_status qkv_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    qkv_attr *a = attr;
    int hd = a->hd, P = hd / 2;
    const float *qkv = in[0]->data;
    const float *nw[2] = {a->norm ? in[1]->data : NULL, a->norm ? in[2]->data : NULL};
    if (a->norm && pd_ctx_recording(ctx) &&
        !(a->rstd = pd_ctx_alloc(ctx, 2 * (size_t)a->B * a->H * a->N * sizeof(float))))
        return pd_ctx_status(ctx);
    float *saved = a->rstd;
    double eps = a->eps;
#pragma omp parallel for collapse(2) if (out->numel > PD_PAR_MIN)
    for (int b = 0; b < a->B; b++)
        for (int n = 0; n < a->N; n++) {
            const float *cs, *sn;
            rope_row(a, n, &cs, &sn);
            for (int part = 0; part < 3; part++)
                for (int h = 0; h < a->H; h++) {
                    const float *restrict x = qkv + src_off(a, b, n, part, h);
                    size_t orow = out_row(a, part, b, h, n);
                    float *restrict y = out->data + orow * hd;
                    if (part == 2 || (!a->norm && !cs)) {
                        memcpy(y, x, (size_t)hd * sizeof(float));
                        continue;
                    }
                    float t[hd]; /* the normalised row, before rotation */
                    if (a->norm) {
                        float rs = (float)(1.0 / sqrt(row_sumsq(x, hd) / hd + eps));
                        if (saved) saved[orow] = rs;
                        const float *restrict w = nw[part];
                        for (int i = 0; i < hd; i++) t[i] = x[i] * rs * w[i];
                    } else {
                        memcpy(t, x, (size_t)hd * sizeof(float));
                    }
                    if (!cs) {
                        memcpy(y, t, (size_t)hd * sizeof(float));
                        continue;
                    }
                    pd_rope_rotate(t, y, cs, sn, P);
                }
        }
    return PD_OK;
}

/* Per q/k row: dt = dy rotated back (RoPE is orthogonal), then the RMSNorm
 * backward with g = dt w: dx = rs dt w - x rs^3 mean(g x), dw += dt x rs.
 * v rows copy back. Every element of dqkv is written once, so it can be
 * stored into an unset gradient. Threads own (b, n) rows; dw is summed from
 * per-thread partials. */
static pd_status qkv_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    const qkv_attr *a = attr;
    int hd = a->hd, P = hd / 2;
    pd_tensor *xt = in[0];
    const float *qkv = xt->data, *dout = out->grad;
    float *dx = xt->grad;
    const float *nw[2] = {a->norm ? in[1]->data : NULL, a->norm ? in[2]->data : NULL};
    float *dw[2] = {a->norm ? in[1]->grad : NULL, a->norm ? in[2]->grad : NULL};
    if (a->norm) {
        pd_grad_zero_if_unset(in[1]);
        pd_grad_zero_if_unset(in[2]);
    }
    bool any_dw = dw[0] || dw[1];
    if (!dx && !any_dw) return PD_OK;
    bool ux = dx && pd_grad_unset(xt);

    int nt = pd_par_threads(out->numel);
    float *partial = NULL; /* (nt, 2, hd) */
    if (any_dw) {
        partial = pd_ctx_alloc(ctx, (size_t)nt * 2 * hd * sizeof(float));
        if (!partial) return pd_ctx_status(ctx);
        memset(partial, 0, (size_t)nt * 2 * hd * sizeof(float));
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = pd_thread_id();
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < a->B; b++)
            for (int n = 0; n < a->N; n++) {
                const float *cs, *sn;
                rope_row(a, n, &cs, &sn);
                for (int part = 0; part < 3; part++)
                    for (int h = 0; h < a->H; h++) {
                        size_t off = src_off(a, b, n, part, h), orow = out_row(a, part, b, h, n);
                        const float *restrict g = dout + orow * hd;
                        float dt[hd]; /* gradient of the normalised row */
                        if (cs && part < 2)
                            pd_rope_unrotate(g, dt, cs, sn, P);
                        else
                            memcpy(dt, g, (size_t)hd * sizeof(float));
                        float *restrict o = dx ? dx + off : NULL;
                        if (part == 2 || !a->norm) {
                            if (o && ux) memcpy(o, dt, (size_t)hd * sizeof(float));
                            else if (o)
                                for (int i = 0; i < hd; i++) o[i] += dt[i];
                            continue;
                        }
                        const float *restrict x = qkv + off, *restrict w = nw[part];
                        float rs = a->rstd[orow];
                        if (dw[part]) {
                            float *restrict p = partial + ((size_t)tid * 2 + part) * hd;
                            for (int i = 0; i < hd; i++) p[i] += dt[i] * x[i] * rs;
                        }
                        if (!o) continue;
                        double acc[4] = {0, 0, 0, 0};
                        int i = 0;
                        for (; i + 4 <= hd; i += 4)
                            for (int k = 0; k < 4; k++)
                                acc[k] += (double)(dt[i + k] * w[i + k]) * x[i + k];
                        for (; i < hd; i++) acc[0] += (double)(dt[i] * w[i]) * x[i];
                        double dot = (acc[0] + acc[1]) + (acc[2] + acc[3]);
                        float c = (float)(dot / hd) * rs * rs * rs;
                        if (ux)
                            for (i = 0; i < hd; i++) o[i] = rs * dt[i] * w[i] - x[i] * c;
                        else
                            for (i = 0; i < hd; i++) o[i] += rs * dt[i] * w[i] - x[i] * c;
                    }
            }
    }
    for (int part = 0; part < 2; part++)
        if (dw[part])
            for (int t = 0; t < nt; t++)
                for (int i = 0; i < hd; i++) dw[part][i] += partial[((size_t)t * 2 + part) * hd + i];
    return PD_OK;
}

static const pd_op_def qkv_op = {"qkv_heads", qkv_fwd, qkv_bwd};

pd_tensor *pd_qkv_heads(pd_ctx *ctx, pd_tensor *qkv, int heads, pd_tensor *q_w, pd_tensor *k_w,
                        float eps, const pd_rope_table *rope) {
    PD_OP_GUARD(ctx, qkv);
    if (qkv->ndim != 3 || heads < 1 || qkv->shape[2] % (3 * heads) || qkv->shape[2] == 0) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "qkv_heads: qkv %s with %d heads: expected (B, N, 3 * heads * head_dim)",
                    SHP(qkv), heads);
        return NULL;
    }
    int B = qkv->shape[0], N = qkv->shape[1], hd = qkv->shape[2] / (3 * heads);
    if (hd > 1024) { /* rows are staged on the stack */
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "qkv_heads: head dim %d of qkv %s: at most 1024", hd,
                    SHP(qkv));
        return NULL;
    }
    if (!q_w != !k_w) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "qkv_heads: give both qk-norm weights or neither");
        return NULL;
    }
    for (int i = 0; q_w && i < 2; i++) {
        const pd_tensor *w = i ? k_w : q_w;
        if (w->ndim != 1 || w->shape[0] != hd) {
            pd_ctx_fail(ctx, PD_ERR_SHAPE, "qkv_heads: %s norm weight %s: expected (%d,)",
                        i ? "k" : "q", SHP(w), hd);
            return NULL;
        }
    }
    if (q_w && !(eps >= 0.0f)) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "qkv_heads: eps = %g: expected eps >= 0", (double)eps);
        return NULL;
    }
    if (rope && (!rope->cos || !rope->sin || rope->dim != hd || rope->n_pos < N || hd % 2)) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "qkv_heads: RoPE table (%d positions, dim %d) for %d tokens of head dim %d",
                    rope->n_pos, rope->dim, N, hd);
        return NULL;
    }
    qkv_attr at = {B, N, heads, hd, q_w != NULL, eps, rope ? rope->cos : NULL,
                   rope ? rope->sin : NULL, NULL};
    pd_tensor *ins[3] = {qkv, q_w, k_w};
    return pd_op_apply_flags(ctx, &qkv_op, PD_OPF_GRAD_OVERWRITE, ins, q_w ? 3 : 1,
                             (int[]){3, B, heads, N, hd}, 5, &at, sizeof at);
}
