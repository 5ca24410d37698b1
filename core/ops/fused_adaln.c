/* Fused norm + modulate: y = rmsnorm(x) * w * (1 + scale) + shift in one
 * pass, the adaLN input of every JiT block, and its LayerNorm twin
 * y = (layernorm(x) * w + b) * (1 + scale) + shift, the per-pixel adaLN of
 * DeCo's decoder. The composed reference is
 * pd_modulate(pd_rmsnorm(x, w), shift, scale), which tests/unit/test_fused.c
 * compares it against; the arithmetic is done in the same order, so the two
 * agree to rounding.
 *
 * Saves the normalised input and its gradient (one read and one write of
 * x's size each way) and runs the conditioning reductions in the same pass
 * as dx. */
#include <math.h>

#include "ada_util.h"
#include "op_util.h"
#include "tape.h"
#include "row_stats.h"

typedef struct {
    ada_attr ada;   /* x viewed (B, M, D); shift / scale (B, D) or x's shape */
    float eps;
    int has_w, has_shift;
    float *rstd;    /* (B*M), arena; NULL when not recording */
} rms_mod_attr;

/* inputs: x, scale, [shift], [w] (in that order) */
static pd_status rms_mod_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    rms_mod_attr *at = attr;
    const ada_attr *a = &at->ada;
    int D = a->D;
    size_t rows = (size_t)a->B * a->M;
    const float *x = in[0]->data, *sc = in[1]->data;
    const float *sh = at->has_shift ? in[2]->data : NULL;
    const float *w = at->has_w ? in[2 + at->has_shift]->data : NULL;
    if (pd_ctx_recording(ctx) && !(at->rstd = pd_ctx_alloc(ctx, rows * sizeof(float))))
        return pd_ctx_status(ctx);
    float *saved = at->rstd;
    double eps = at->eps;
#pragma omp parallel for collapse(2) if (y->numel > PD_PAR_MIN)
    for (int b = 0; b < a->B; b++)
        for (int m = 0; m < a->M; m++) {
            size_t r = (size_t)b * a->M + m, c = ada_idx(a, b, m, 0);
            const float *restrict xr = x + r * D, *restrict s = sc + c;
            float *restrict yr = y->data + r * D;
            float rs = (float)(1.0 / sqrt(row_sumsq(xr, D) / D + eps));
            if (saved) saved[r] = rs;
            /* as rmsnorm then modulate: n = x rs w; y = n (1 + scale) + shift */
            if (w && sh)
                for (int d = 0; d < D; d++) yr[d] = xr[d] * rs * w[d] * (1.0f + s[d]) + sh[c + d];
            else if (w)
                for (int d = 0; d < D; d++) yr[d] = xr[d] * rs * w[d] * (1.0f + s[d]) + 0.0f;
            else if (sh)
                for (int d = 0; d < D; d++) yr[d] = xr[d] * rs * (1.0f + s[d]) + sh[c + d];
            else
                for (int d = 0; d < D; d++) yr[d] = xr[d] * rs * (1.0f + s[d]) + 0.0f;
        }
    return PD_OK;
}

/* With n = x rs w and dn = dy (1 + scale):
 *   dshift += sum_m dy;  dscale += sum_m dy n;  dw += sum_rows dn x rs;
 *   dx = rs dn w - x rs^3 mean(dn w x)   (the RMSNorm backward).
 * Threads own samples b (their conditioning rows are private); dw is summed
 * from per-thread partials. */
static pd_status rms_mod_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    const rms_mod_attr *at = attr;
    const ada_attr *a = &at->ada;
    int D = a->D;
    pd_tensor *xt = in[0], *sct = in[1];
    pd_tensor *sht = at->has_shift ? in[2] : NULL, *wt = at->has_w ? in[2 + at->has_shift] : NULL;
    const float *x = xt->data, *sc = sct->data, *w = wt ? wt->data : NULL, *dy = y->grad;
    const float *rstd = at->rstd;
    float *dx = xt->grad, *dsc = sct->grad, *dsh = sht ? sht->grad : NULL;
    float *dw = wt ? wt->grad : NULL;
    bool ux = dx && pd_grad_unset(xt);
    pd_grad_zero_if_unset(sct);
    pd_grad_zero_if_unset(sht);
    pd_grad_zero_if_unset(wt);

    int nt = pd_par_threads(y->numel);
    /* per thread: dw partial (D) and the row's dn * w (D) */
    float *scratch = pd_ctx_alloc(ctx, (size_t)nt * 2 * D * sizeof(float));
    if (!scratch) return pd_ctx_status(ctx);
    if (dw) memset(scratch, 0, (size_t)nt * 2 * D * sizeof(float));
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = pd_thread_id();
        float *restrict dwp = scratch + (size_t)tid * 2 * D, *restrict gw = dwp + D;
#pragma omp for schedule(static)
        for (int b = 0; b < a->B; b++)
            for (int m = 0; m < a->M; m++) {
                size_t r = (size_t)b * a->M + m, c = ada_idx(a, b, m, 0);
                const float *restrict xr = x + r * D, *restrict g = dy + r * D, *restrict s = sc + c;
                float rs = rstd[r];
                if (dsh) {
                    float *restrict o = dsh + c;
                    for (int d = 0; d < D; d++) o[d] += g[d];
                }
                if (dsc) {
                    float *restrict o = dsc + c;
                    if (w)
                        for (int d = 0; d < D; d++) o[d] += g[d] * (xr[d] * rs * w[d]);
                    else
                        for (int d = 0; d < D; d++) o[d] += g[d] * (xr[d] * rs);
                }
                if (dw)
                    for (int d = 0; d < D; d++) dwp[d] += g[d] * (1.0f + s[d]) * xr[d] * rs;
                if (!dx) continue;
                if (w)
                    for (int d = 0; d < D; d++) gw[d] = g[d] * (1.0f + s[d]) * w[d];
                else
                    for (int d = 0; d < D; d++) gw[d] = g[d] * (1.0f + s[d]);
                double acc[4] = {0, 0, 0, 0};
                int d = 0;
                for (; d + 4 <= D; d += 4)
                    for (int k = 0; k < 4; k++) acc[k] += (double)gw[d + k] * xr[d + k];
                for (; d < D; d++) acc[0] += (double)gw[d] * xr[d];
                double dot = (acc[0] + acc[1]) + (acc[2] + acc[3]);
                float cr = (float)(dot / D) * rs * rs * rs;
                float *restrict o = dx + r * D;
                if (ux)
                    for (d = 0; d < D; d++) o[d] = rs * gw[d] - xr[d] * cr;
                else
                    for (d = 0; d < D; d++) o[d] += rs * gw[d] - xr[d] * cr;
            }
    }
    if (dw)
        for (int t = 0; t < nt; t++)
            for (int d = 0; d < D; d++) dw[d] += scratch[(size_t)t * 2 * D + d];
    return PD_OK;
}

static const pd_op_def rms_mod_op = {"rmsnorm_modulate", rms_mod_fwd, rms_mod_bwd};

/* The arguments both fused ops check: the (B, M, D) view of x against
 * scale, shift shaped as scale, w and b (D), eps >= 0; false with the error
 * recorded, naming `op`. */
static bool norm_mod_args(pd_ctx *ctx, const char *op, const pd_tensor *x, const pd_tensor *w,
                          const pd_tensor *b, const pd_tensor *shift, const pd_tensor *scale,
                          float eps, ada_attr *view) {
    if (!ada_view(ctx, op, x, scale, view)) return false;
    if (shift && !pd_shape_equal(shift, scale)) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "%s: shift %s and scale %s must have the same shape", op,
                    SHP(shift), SHP(scale));
        return false;
    }
    const pd_tensor *aff[2] = {w, b};
    const char *names[2] = {"w", "b"};
    for (int i = 0; i < 2; i++)
        if (aff[i] && (aff[i]->ndim != 1 || aff[i]->shape[0] != view->D)) {
            pd_ctx_fail(ctx, PD_ERR_SHAPE, "%s: %s %s does not match x %s: expected (%d,)", op,
                        names[i], SHP(aff[i]), SHP(x), view->D);
            return false;
        }
    if (!(eps >= 0.0f)) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "%s: eps = %g on x %s: expected eps >= 0", op, (double)eps,
                    SHP(x));
        return false;
    }
    return true;
}

pd_tensor *pd_rmsnorm_modulate(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *shift,
                               pd_tensor *scale, float eps) {
    PD_OP_GUARD(ctx, x, scale);
    rms_mod_attr at = {.eps = eps, .has_w = w != NULL, .has_shift = shift != NULL};
    if (!norm_mod_args(ctx, "rmsnorm_modulate", x, w, NULL, shift, scale, eps, &at.ada)) return NULL;
    pd_tensor *ins[4] = {x, scale};
    int n = 2;
    if (shift) ins[n++] = shift;
    if (w) ins[n++] = w;
    return pd_op_apply_flags(ctx, &rms_mod_op, PD_OPF_GRAD_OVERWRITE, ins, n, x->shape, x->ndim,
                             &at, sizeof at);
}

/* ---- LayerNorm + modulate ------------------------------------------------------ */
/* The composed reference is pd_modulate(pd_layernorm(x, w, b), shift, scale),
 * in the same arithmetic order. */

typedef struct {
    ada_attr ada;   /* x viewed (B, M, D); shift / scale (B, D) or x's shape */
    float eps;
    int has_w, has_b, has_shift;
    float *mean;    /* (B*M), arena; NULL when not recording */
    float *rstd;
} ln_mod_attr;

/* inputs: x, scale, [shift], [w], [b] (in that order) */
static const float *ln_mod_in(pd_tensor *const *in, const ln_mod_attr *at, int which) {
    int i = 2 + at->has_shift; /* which: 0 w, 1 b */
    if (which == 0) return at->has_w ? in[i]->data : NULL;
    return at->has_b ? in[i + at->has_w]->data : NULL;
}

static pd_status ln_mod_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    ln_mod_attr *at = attr;
    const ada_attr *a = &at->ada;
    int D = a->D;
    size_t rows = (size_t)a->B * a->M;
    const float *x = in[0]->data, *sc = in[1]->data;
    const float *sh = at->has_shift ? in[2]->data : NULL;
    const float *w = ln_mod_in(in, at, 0), *bias = ln_mod_in(in, at, 1);
    if (pd_ctx_recording(ctx)) {
        at->mean = pd_ctx_alloc(ctx, rows * sizeof(float));
        at->rstd = pd_ctx_alloc(ctx, rows * sizeof(float));
        if (!at->mean || !at->rstd) return pd_ctx_status(ctx);
    }
    float *smean = at->mean, *srstd = at->rstd;
    double eps = at->eps;
#pragma omp parallel for collapse(2) if (y->numel > PD_PAR_MIN)
    for (int b = 0; b < a->B; b++)
        for (int m = 0; m < a->M; m++) {
            size_t r = (size_t)b * a->M + m, c = ada_idx(a, b, m, 0);
            const float *restrict xr = x + r * D, *restrict s = sc + c;
            float *restrict yr = y->data + r * D;
            double mean = row_sum(xr, D) / D;
            float mf = (float)mean, rs = (float)(1.0 / sqrt(row_sqdev(xr, D, mean) / D + eps));
            if (smean) smean[r] = mf, srstd[r] = rs;
            for (int d = 0; d < D; d++) {
                float h = (xr[d] - mf) * rs;
                h = (w ? h * w[d] : h) + (bias ? bias[d] : 0.0f);
                yr[d] = h * (1.0f + s[d]) + (sh ? sh[c + d] : 0.0f);
            }
        }
    return PD_OK;
}

/* With xhat = (x - mean) rs, h = xhat w + b, dh = dy (1 + scale), g = dh w:
 *   dshift += dy;  dscale += dy h;  dw += dh xhat;  db += dh;
 *   dx = rs (g - mean(g) - xhat mean(g xhat))   (the LayerNorm backward).
 * Threads own samples b; dw and db are summed from per-thread partials. */
static pd_status ln_mod_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    const ln_mod_attr *at = attr;
    const ada_attr *a = &at->ada;
    int D = a->D;
    int iw = 2 + at->has_shift;
    pd_tensor *xt = in[0], *sct = in[1], *sht = at->has_shift ? in[2] : NULL;
    pd_tensor *wt = at->has_w ? in[iw] : NULL, *bt = at->has_b ? in[iw + at->has_w] : NULL;
    const float *x = xt->data, *sc = sct->data, *w = wt ? wt->data : NULL;
    const float *bias = bt ? bt->data : NULL, *dy = y->grad;
    const float *smean = at->mean, *srstd = at->rstd;
    float *dx = xt->grad, *dsc = sct->grad, *dsh = sht ? sht->grad : NULL;
    float *dw = wt ? wt->grad : NULL, *db = bt ? bt->grad : NULL;
    bool ux = dx && pd_grad_unset(xt);
    pd_grad_zero_if_unset(sct);
    pd_grad_zero_if_unset(sht);
    pd_grad_zero_if_unset(wt);
    pd_grad_zero_if_unset(bt);

    int nt = pd_par_threads(y->numel);
    /* per thread: dw and db partials, the row's dh and g (D each) */
    float *scratch = pd_ctx_alloc(ctx, (size_t)nt * 4 * D * sizeof(float));
    if (!scratch) return pd_ctx_status(ctx);
    memset(scratch, 0, (size_t)nt * 4 * D * sizeof(float));
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = pd_thread_id();
        float *restrict dwp = scratch + (size_t)tid * 4 * D, *restrict dbp = dwp + D;
        float *restrict dh = dbp + D, *restrict g = dh + D;
#pragma omp for schedule(static)
        for (int b = 0; b < a->B; b++)
            for (int m = 0; m < a->M; m++) {
                size_t r = (size_t)b * a->M + m, c = ada_idx(a, b, m, 0);
                const float *restrict xr = x + r * D, *restrict dyr = dy + r * D, *restrict s = sc + c;
                float mf = smean[r], rs = srstd[r];
                if (dsh) {
                    float *restrict o = dsh + c;
                    for (int d = 0; d < D; d++) o[d] += dyr[d];
                }
                if (dsc) {
                    float *restrict o = dsc + c;
                    for (int d = 0; d < D; d++) {
                        float h = (xr[d] - mf) * rs;
                        o[d] += dyr[d] * ((w ? h * w[d] : h) + (bias ? bias[d] : 0.0f));
                    }
                }
                for (int d = 0; d < D; d++) dh[d] = dyr[d] * (1.0f + s[d]);
                if (dw)
                    for (int d = 0; d < D; d++) dwp[d] += dh[d] * ((xr[d] - mf) * rs);
                if (db)
                    for (int d = 0; d < D; d++) dbp[d] += dh[d];
                if (!dx) continue;
                double sg = 0, sgx = 0;
                for (int d = 0; d < D; d++) {
                    g[d] = w ? dh[d] * w[d] : dh[d];
                    sg += g[d];
                    sgx += (double)g[d] * ((xr[d] - mf) * rs);
                }
                float mg = (float)(sg / D), mgx = (float)(sgx / D);
                float *restrict o = dx + r * D;
                if (ux)
                    for (int d = 0; d < D; d++) o[d] = rs * (g[d] - mg - (xr[d] - mf) * rs * mgx);
                else
                    for (int d = 0; d < D; d++) o[d] += rs * (g[d] - mg - (xr[d] - mf) * rs * mgx);
            }
    }
    for (int t = 0; t < nt; t++)
        for (int d = 0; d < D; d++) {
            if (dw) dw[d] += scratch[(size_t)t * 4 * D + d];
            if (db) db[d] += scratch[(size_t)t * 4 * D + D + d];
        }
    return PD_OK;
}

static const pd_op_def ln_mod_op = {"layernorm_modulate", ln_mod_fwd, ln_mod_bwd};

pd_tensor *pd_layernorm_modulate(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b,
                                 pd_tensor *shift, pd_tensor *scale, float eps) {
    PD_OP_GUARD(ctx, x, scale);
    ln_mod_attr at = {.eps = eps, .has_w = w != NULL, .has_b = b != NULL, .has_shift = shift != NULL};
    if (!norm_mod_args(ctx, "layernorm_modulate", x, w, b, shift, scale, eps, &at.ada)) return NULL;
    pd_tensor *ins[5] = {x, scale};
    int n = 2;
    if (shift) ins[n++] = shift;
    if (w) ins[n++] = w;
    if (b) ins[n++] = b;
    return pd_op_apply_flags(ctx, &ln_mod_op, PD_OPF_GRAD_OVERWRITE, ins, n, x->shape, x->ndim,
                             &at, sizeof at);
}
