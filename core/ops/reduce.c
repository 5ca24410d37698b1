/* Reductions (sum, mean, over everything or one axis) and the MSE loss.
 * Full reductions accumulate in double so large sums stay accurate. */
#include "op_util.h"

/* ---- sum / mean of everything -> scalar ------------------------------------- */

typedef struct {
    float scale; /* 1 for sum, 1/n for mean */
} full_attr;

static pd_status full_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const float *x = in[0]->data;
    size_t n = in[0]->numel;
    double s = 0;
#pragma omp parallel for reduction(+ : s) if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++) s += x[i];
    y->data[0] = (float)(s * ((const full_attr *)attr)->scale);
    return PD_OK;
}

static pd_status full_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    float g = y->grad[0] * ((const full_attr *)attr)->scale;
    float *dx = in[0]->grad;
    size_t n = in[0]->numel;
#pragma omp parallel for if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++) dx[i] += g;
    return PD_OK;
}

static const pd_op_def sum_op = {"sum", full_fwd, full_bwd};
static const pd_op_def mean_op = {"mean", full_fwd, full_bwd};

pd_tensor *pd_sum(pd_ctx *ctx, pd_tensor *x) {
    PD_OP_GUARD(ctx, x);
    full_attr at = {1.0f};
    return pd_op_apply(ctx, &sum_op, &x, 1, NULL, 0, &at, sizeof at);
}

pd_tensor *pd_mean(pd_ctx *ctx, pd_tensor *x) {
    PD_OP_GUARD(ctx, x);
    full_attr at = {(float)(1.0 / (double)x->numel)};
    return pd_op_apply(ctx, &mean_op, &x, 1, NULL, 0, &at, sizeof at);
}

/* ---- sum / mean over one axis --------------------------------------------------
 * x viewed as (outer, n, inner) -> y (outer, inner). */

typedef struct {
    size_t outer, n, inner;
    float scale;
} axis_attr;

static pd_status axis_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const axis_attr *at = attr;
    const float *x = in[0]->data;
#pragma omp parallel for if (in[0]->numel > PD_PAR_MIN)
    for (size_t o = 0; o < at->outer; o++) {
        float *yr = y->data + o * at->inner;
        for (size_t i = 0; i < at->inner; i++) yr[i] = 0.0f;
        for (size_t k = 0; k < at->n; k++) {
            const float *xr = x + (o * at->n + k) * at->inner;
            for (size_t i = 0; i < at->inner; i++) yr[i] += xr[i];
        }
        for (size_t i = 0; i < at->inner; i++) yr[i] *= at->scale;
    }
    return PD_OK;
}

static pd_status axis_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const axis_attr *at = attr;
    float *dx = in[0]->grad;
#pragma omp parallel for if (in[0]->numel > PD_PAR_MIN)
    for (size_t o = 0; o < at->outer; o++) {
        const float *gr = y->grad + o * at->inner;
        for (size_t k = 0; k < at->n; k++) {
            float *dr = dx + (o * at->n + k) * at->inner;
            for (size_t i = 0; i < at->inner; i++) dr[i] += gr[i] * at->scale;
        }
    }
    return PD_OK;
}

static const pd_op_def sum_axis_op = {"sum_axis", axis_fwd, axis_bwd};
static const pd_op_def mean_axis_op = {"mean_axis", axis_fwd, axis_bwd};

static pd_tensor *reduce_axis(pd_ctx *ctx, const pd_op_def *def, pd_tensor *x, int axis, bool mean) {
    PD_OP_GUARD(ctx, x);
    int ax = pd_axis(axis, x->ndim);
    if (ax < 0) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "%s: axis %d out of range for %s", def->name, axis, SHP(x));
        return NULL;
    }
    axis_attr at;
    at.outer = pd_shape_numel(x->shape, ax);
    at.n = (size_t)x->shape[ax];
    at.inner = pd_shape_numel(x->shape + ax + 1, x->ndim - ax - 1);
    at.scale = mean ? (float)(1.0 / (double)at.n) : 1.0f;
    int shape[PD_MAX_DIMS], nd = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != ax) shape[nd++] = x->shape[d];
    return pd_op_apply(ctx, def, &x, 1, shape, nd, &at, sizeof at);
}

pd_tensor *pd_sum_axis(pd_ctx *ctx, pd_tensor *x, int axis) {
    return reduce_axis(ctx, &sum_axis_op, x, axis, false);
}

pd_tensor *pd_mean_axis(pd_ctx *ctx, pd_tensor *x, int axis) {
    return reduce_axis(ctx, &mean_axis_op, x, axis, true);
}

/* ---- MSE: mean((a - b)^2) -> scalar -------------------------------------------- */

static pd_status mse_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in, (void)attr;
    const float *a = in[0]->data, *b = in[1]->data;
    size_t n = in[0]->numel;
    double s = 0;
#pragma omp parallel for reduction(+ : s) if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    y->data[0] = (float)(s / (double)n);
    return PD_OK;
}

static pd_status mse_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in, (void)attr;
    const float *a = in[0]->data, *b = in[1]->data;
    float *da = in[0]->grad, *db = in[1]->grad;
    size_t n = in[0]->numel;
    float k = 2.0f * y->grad[0] / (float)n;
#pragma omp parallel for if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float g = k * (a[i] - b[i]);
        if (da) da[i] += g;
        if (db) db[i] -= g;
    }
    return PD_OK;
}

static const pd_op_def mse_op = {"mse", mse_fwd, mse_bwd};

pd_tensor *pd_mse(pd_ctx *ctx, pd_tensor *a, pd_tensor *b) {
    PD_OP_GUARD(ctx, a, b);
    if (!pd_shape_equal(a, b)) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "mse: a %s and b %s must have the same shape", SHP(a), SHP(b));
        return NULL;
    }
    pd_tensor *ins[2] = {a, b};
    return pd_op_apply(ctx, &mse_op, ins, 2, NULL, 0, NULL, 0);
}
