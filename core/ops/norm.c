/* Normalisation over the last dim: RMSNorm (JiT) and LayerNorm (DeCo).
 * Row statistics are accumulated in double so long rows of large values
 * lose nothing; forward saves the per-row statistics for backward. */
#include <math.h>

#include "op_util.h"
#include "tape.h"
#include "row_stats.h"

/* ---- RMSNorm ------------------------------------------------------------------ */
/* x, y (rows, D); w (D) or NULL; rstd (rows) saved for backward. */

typedef struct {
    float eps;
    float *rstd;   /* (rows), arena; NULL when not recording */
} rms_attr;

static pd_status rms_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    rms_attr *at = attr;
    const pd_tensor *x = in[0];
    const float *w = n_in > 1 ? in[1]->data : NULL;
    int D = x->shape[x->ndim - 1];
    size_t rows = D ? x->numel / (size_t)D : 0;
    if (pd_ctx_recording(ctx)) {
        at->rstd = pd_ctx_alloc(ctx, (rows ? rows : 1) * sizeof(float));
        if (!at->rstd) return pd_ctx_status(ctx);
    }
    float *saved = at->rstd;
    double eps = at->eps;
#pragma omp parallel for if (x->numel > PD_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *restrict xr = x->data + r * (size_t)D;
        float *restrict yr = y->data + r * (size_t)D;
        float rs = (float)(1.0 / sqrt(row_sumsq(xr, D) / D + eps));
        if (saved) saved[r] = rs;
        if (w)
            for (int i = 0; i < D; i++) yr[i] = xr[i] * rs * w[i];
        else
            for (int i = 0; i < D; i++) yr[i] = xr[i] * rs;
    }
    return PD_OK;
}

/* With g = dy * w and r = rstd:  dx = r g - x r^3 mean(g x);  dw += sum_rows dy x r. */
static pd_status rms_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx;
    const rms_attr *at = attr;
    pd_tensor *x = in[0], *wt = n_in > 1 ? in[1] : NULL;
    const float *w = wt ? wt->data : NULL, *dy = y->grad, *rstd = at->rstd;
    int D = x->shape[x->ndim - 1];
    size_t rows = D ? x->numel / (size_t)D : 0;
    if (x->grad) {
        float *dx = x->grad;
        bool unset = pd_grad_unset(x);
#pragma omp parallel for if (x->numel > PD_PAR_MIN)
        for (size_t r = 0; r < rows; r++) {
            const float *restrict xr = x->data + r * (size_t)D, *restrict dr = dy + r * (size_t)D;
            float *restrict gr = dx + r * (size_t)D;
            double dot = 0;
            for (int i = 0; i < D; i++) dot += (double)(w ? dr[i] * w[i] : dr[i]) * xr[i];
            float rs = rstd[r];
            float c = (float)(dot / D) * rs * rs * rs;
            if (w)
                for (int i = 0; i < D; i++) gr[i] = pd_grad_acc(unset, gr[i], rs * dr[i] * w[i] - xr[i] * c);
            else
                for (int i = 0; i < D; i++) gr[i] = pd_grad_acc(unset, gr[i], rs * dr[i] - xr[i] * c);
        }
    }
    if (wt && wt->grad) {
        /* Serial over rows: every row adds into the same D entries. */
        float *restrict dw = wt->grad;
        pd_grad_zero_if_unset(wt);
        for (size_t r = 0; r < rows; r++) {
            const float *restrict xr = x->data + r * (size_t)D, *restrict dr = dy + r * (size_t)D;
            float rs = rstd[r];
            for (int i = 0; i < D; i++) dw[i] += dr[i] * xr[i] * rs;
        }
    }
    return PD_OK;
}

static const pd_op_def rms_op = {"rmsnorm", rms_fwd, rms_bwd};

pd_tensor *pd_rmsnorm(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, float eps) {
    PD_OP_GUARD(ctx, x);
    if (x->ndim < 1 || x->shape[x->ndim - 1] < 1) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "rmsnorm: x %s: expected (..., D) with D >= 1", SHP(x));
        return NULL;
    }
    if (w && (w->ndim != 1 || w->shape[0] != x->shape[x->ndim - 1])) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "rmsnorm: w %s does not match x %s: expected (%d,)", SHP(w),
                    SHP(x), x->shape[x->ndim - 1]);
        return NULL;
    }
    if (!(eps >= 0.0f)) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "rmsnorm: eps = %g on x %s: expected eps >= 0", (double)eps,
                    SHP(x));
        return NULL;
    }
    rms_attr at = {eps, NULL};
    pd_tensor *ins[2] = {x, w};
    return pd_op_apply_flags(ctx, &rms_op, PD_OPF_GRAD_OVERWRITE, ins, w ? 2 : 1, x->shape, x->ndim,
                             &at, sizeof at);
}

/* ---- LayerNorm ---------------------------------------------------------------- */
/* x, y (rows, D); w, b (D) or NULL; mean, rstd (rows) saved for backward. */

typedef struct {
    float eps;
    int has_w, has_b;  /* which of w, b follow x in the inputs */
    float *mean;       /* (rows), arena; NULL when not recording */
    float *rstd;       /* (rows) */
} ln_attr;

static pd_status ln_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    ln_attr *at = attr;
    const pd_tensor *x = in[0];
    const float *w = at->has_w ? in[1]->data : NULL;
    const float *b = at->has_b ? in[1 + at->has_w]->data : NULL;
    int D = x->shape[x->ndim - 1];
    size_t rows = D ? x->numel / (size_t)D : 0;
    if (pd_ctx_recording(ctx)) {
        at->mean = pd_ctx_alloc(ctx, (rows ? rows : 1) * sizeof(float));
        at->rstd = pd_ctx_alloc(ctx, (rows ? rows : 1) * sizeof(float));
        if (!at->mean || !at->rstd) return pd_ctx_status(ctx);
    }
    float *smean = at->mean, *srstd = at->rstd;
    double eps = at->eps;
#pragma omp parallel for if (x->numel > PD_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *restrict xr = x->data + r * (size_t)D;
        float *restrict yr = y->data + r * (size_t)D;
        double m = row_sum(xr, D) / D;
        double var = row_sqdev(xr, D, m) / D; /* biased, as torch */
        float mf = (float)m, rs = (float)(1.0 / sqrt(var + eps));
        if (smean) smean[r] = mf, srstd[r] = rs;
        for (int i = 0; i < D; i++) {
            float h = (xr[i] - mf) * rs;
            yr[i] = (w ? h * w[i] : h) + (b ? b[i] : 0.0f);
        }
    }
    return PD_OK;
}

/* xhat = (x - mean) r, g = dy * w:
 * dx = r (g - mean(g) - xhat mean(g xhat));  dw += dy xhat;  db += dy. */
static pd_status ln_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const ln_attr *at = attr;
    pd_tensor *x = in[0];
    pd_tensor *wt = at->has_w ? in[1] : NULL, *bt = at->has_b ? in[1 + at->has_w] : NULL;
    const float *w = wt ? wt->data : NULL, *dy = y->grad;
    const float *smean = at->mean, *srstd = at->rstd;
    int D = x->shape[x->ndim - 1];
    size_t rows = D ? x->numel / (size_t)D : 0;
    if (x->grad) {
        float *dx = x->grad;
#pragma omp parallel for if (x->numel > PD_PAR_MIN)
        for (size_t r = 0; r < rows; r++) {
            const float *restrict xr = x->data + r * (size_t)D, *restrict dr = dy + r * (size_t)D;
            float *restrict gr = dx + r * (size_t)D;
            float m = smean[r], rs = srstd[r];
            double sg = 0, sgx = 0;
            for (int i = 0; i < D; i++) {
                float g = w ? dr[i] * w[i] : dr[i];
                sg += g;
                sgx += (double)g * ((xr[i] - m) * rs);
            }
            float mg = (float)(sg / D), mgx = (float)(sgx / D);
            for (int i = 0; i < D; i++) {
                float g = w ? dr[i] * w[i] : dr[i];
                gr[i] += rs * (g - mg - (xr[i] - m) * rs * mgx);
            }
        }
    }
    /* Serial over rows: every row adds into the same D entries. */
    if (wt && wt->grad) {
        float *restrict dw = wt->grad;
        for (size_t r = 0; r < rows; r++) {
            const float *restrict xr = x->data + r * (size_t)D, *restrict dr = dy + r * (size_t)D;
            float m = smean[r], rs = srstd[r];
            for (int i = 0; i < D; i++) dw[i] += dr[i] * (xr[i] - m) * rs;
        }
    }
    if (bt && bt->grad) {
        float *restrict db = bt->grad;
        for (size_t r = 0; r < rows; r++) {
            const float *restrict dr = dy + r * (size_t)D;
            for (int i = 0; i < D; i++) db[i] += dr[i];
        }
    }
    return PD_OK;
}

static const pd_op_def ln_op = {"layernorm", ln_fwd, ln_bwd};

pd_tensor *pd_layernorm(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b, float eps) {
    PD_OP_GUARD(ctx, x);
    if (x->ndim < 1 || x->shape[x->ndim - 1] < 1) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "layernorm: x %s: expected (..., D) with D >= 1", SHP(x));
        return NULL;
    }
    int D = x->shape[x->ndim - 1];
    const pd_tensor *aff[2] = {w, b};
    const char *names[2] = {"w", "b"};
    for (int i = 0; i < 2; i++)
        if (aff[i] && (aff[i]->ndim != 1 || aff[i]->shape[0] != D)) {
            pd_ctx_fail(ctx, PD_ERR_SHAPE, "layernorm: %s %s does not match x %s: expected (%d,)",
                        names[i], SHP(aff[i]), SHP(x), D);
            return NULL;
        }
    if (!(eps >= 0.0f)) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "layernorm: eps = %g on x %s: expected eps >= 0", (double)eps,
                    SHP(x));
        return NULL;
    }
    ln_attr at = {eps, w != NULL, b != NULL, NULL, NULL};
    pd_tensor *ins[3] = {x};
    int n = 1;
    if (w) ins[n++] = w;
    if (b) ins[n++] = b;
    return pd_op_apply(ctx, &ln_op, ins, n, x->shape, x->ndim, &at, sizeof at);
}
