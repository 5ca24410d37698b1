/* Elementwise binary ops with numpy broadcasting, affine, and the two
 * adaLN helpers (modulate, gated residual). */
#include "ada_util.h"
#include "op_util.h"
#include "tape.h"

/* ---- broadcasting binary ops -------------------------------------------- */

enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV };

typedef struct {
    int kind;
    int ndim;                 /* of the output */
    int shape[PD_MAX_DIMS];   /* output shape */
    size_t sa[PD_MAX_DIMS];   /* a's stride per output dim (0 = broadcast) */
    size_t sb[PD_MAX_DIMS];
    int same;                 /* a, b and out all have the same shape */
    int b_mode;               /* a has out's shape and b repeats: B_TRAIL / B_LEAD */
    size_t b_n;               /* b's numel in those modes */
} bin_attr;

/* Fast broadcast patterns (a shaped like out):
 *   B_TRAIL: b is out's trailing dims (x + pos_embed): b index = i % b_n
 *   B_LEAD:  b is out's leading dims, ones after (per-sample scale (B,1,1,1)):
 *            b index = i / (n / b_n) */
enum { B_GENERAL = 0, B_TRAIL = 1, B_LEAD = 2 };

static inline float bin_apply(int kind, float a, float b) {
    switch (kind) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    default: return a / b;
    }
}

/* Walks the output in row-major order, tracking the a and b offsets. */
#define BCAST_LOOP(at, n, body)                                                   \
    do {                                                                          \
        int idx_[PD_MAX_DIMS] = {0};                                              \
        size_t ia = 0, ib = 0;                                                    \
        for (size_t o = 0; o < (n); o++) {                                        \
            body;                                                                 \
            for (int d = (at)->ndim - 1; d >= 0; d--) {                           \
                ia += (at)->sa[d];                                                \
                ib += (at)->sb[d];                                                \
                if (++idx_[d] < (at)->shape[d]) break;                            \
                ia -= (at)->sa[d] * (size_t)(at)->shape[d];                       \
                ib -= (at)->sb[d] * (size_t)(at)->shape[d];                       \
                idx_[d] = 0;                                                      \
            }                                                                     \
        }                                                                         \
    } while (0)

/* ---- the repeat patterns (B_TRAIL, B_LEAD) as contiguous runs ------------
 * The output is walked in runs along which b's index is affine: B_TRAIL
 * runs are rows of bn with b[j .. ], B_LEAD runs are blocks of `inner`
 * with one b value. No division per element, the kind switch outside the
 * loop, so the loops vectorise: the per-element i % bn of the plain loop
 * cost DeCo's (B*N, p*p, w) + (p*p, w) position add 4x its memory time. */

/* y[k] = a[k] op b[k * bstep], k < len (bstep 0: one b value, 1: a run) */
static inline void run_apply(int kind, const float *a, const float *b, size_t bstep, float *y,
                             size_t len) {
    switch (kind) {
    case BIN_ADD: for (size_t k = 0; k < len; k++) y[k] = a[k] + b[k * bstep]; break;
    case BIN_SUB: for (size_t k = 0; k < len; k++) y[k] = a[k] - b[k * bstep]; break;
    case BIN_MUL: for (size_t k = 0; k < len; k++) y[k] = a[k] * b[k * bstep]; break;
    default: for (size_t k = 0; k < len; k++) y[k] = a[k] / b[k * bstep]; break;
    }
}

/* da[k] += d(a op b)/da * dy[k] along a run */
static inline void run_da(int kind, const float *b, size_t bstep, const float *dy, float *da,
                          size_t len) {
    switch (kind) {
    case BIN_ADD: case BIN_SUB: for (size_t k = 0; k < len; k++) da[k] += dy[k]; break;
    case BIN_MUL: for (size_t k = 0; k < len; k++) da[k] += dy[k] * b[k * bstep]; break;
    default: for (size_t k = 0; k < len; k++) da[k] += dy[k] / b[k * bstep]; break;
    }
}

/* Calls body(i, j, len) for the runs of [lo, hi): i the output index, j
 * b's index at i, len the run's length. */
#define REP_RUNS(trail, lo, hi, bn, inner, body)                                    \
    for (size_t i = (lo); i < (hi);) {                                            \
        size_t j = (trail) ? i % (bn) : i / (inner);                              \
        size_t end = (trail) ? i - j + (bn) : (j + 1) * (inner);                  \
        size_t len = (end < (hi) ? end : (hi)) - i;                               \
        body;                                                                     \
        i += len;                                                                 \
    }

static void rep_fwd(int kind, bool trail, const float *a, const float *b, float *y, size_t n,
                    size_t bn) {
    size_t inner = n / bn; /* B_TRAIL: rows; B_LEAD: block length */
#pragma omp parallel if (n > PD_PAR_MIN)
    {
        int T = omp_get_num_threads(), t = omp_get_thread_num();
        size_t lo = n * t / T, hi = n * (t + 1) / T;
        REP_RUNS(trail, lo, hi, bn, inner,
                 run_apply(kind, a + i, b + j, trail ? 1 : 0, y + i, len));
    }
}

/* b's gradient: B_TRAIL sums the rows column by column (threads own
 * column ranges and walk the rows in order), B_LEAD sums each block; in
 * both every db[j] adds its repeats in the same order whatever the thread
 * count. */
static void rep_bwd(int kind, bool trail, const float *a, const float *b, const float *dy, float *da,
                    float *db, size_t n, size_t bn) {
    size_t inner = n / bn; /* B_TRAIL: rows; B_LEAD: block length */
#pragma omp parallel if (n > PD_PAR_MIN)
    {
        int T = omp_get_num_threads(), t = omp_get_thread_num();
        if (da) {
            size_t lo = n * t / T, hi = n * (t + 1) / T;
            REP_RUNS(trail, lo, hi, bn, inner,
                     run_da(kind, b + j, trail ? 1 : 0, dy + i, da + i, len));
        }
        if (db && trail) {
            size_t j0 = bn * t / T, j1 = bn * (t + 1) / T;
            for (size_t r = 0; r < inner; r++) {
                const float *g = dy + r * bn, *ar = a + r * bn;
                switch (kind) {
                case BIN_ADD: for (size_t j = j0; j < j1; j++) db[j] += g[j]; break;
                case BIN_SUB: for (size_t j = j0; j < j1; j++) db[j] -= g[j]; break;
                case BIN_MUL: for (size_t j = j0; j < j1; j++) db[j] += g[j] * ar[j]; break;
                default: for (size_t j = j0; j < j1; j++) db[j] -= g[j] * ar[j] / (b[j] * b[j]); break;
                }
            }
        } else if (db) {
#pragma omp for
            for (size_t j = 0; j < bn; j++) {
                const float *g = dy + j * inner, *aj = a + j * inner;
                float acc = 0.0f, bv = b[j];
                switch (kind) {
                case BIN_ADD: for (size_t k = 0; k < inner; k++) acc += g[k]; break;
                case BIN_SUB: for (size_t k = 0; k < inner; k++) acc -= g[k]; break;
                case BIN_MUL: for (size_t k = 0; k < inner; k++) acc += g[k] * aj[k]; break;
                default: for (size_t k = 0; k < inner; k++) acc -= g[k] * aj[k] / (bv * bv); break;
                }
                db[j] += acc;
            }
        }
    }
}

static pd_status bin_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const bin_attr *at = attr;
    const float *a = in[0]->data, *b = in[1]->data;
    float *y = out->data;
    size_t n = out->numel;
    int kind = at->kind;
    if (at->same) {
#pragma omp parallel for if (n > PD_PAR_MIN)
        for (size_t i = 0; i < n; i++) y[i] = bin_apply(kind, a[i], b[i]);
        return PD_OK;
    }
    if (at->b_mode) {
        rep_fwd(kind, at->b_mode == B_TRAIL, a, b, y, n, at->b_n);
        return PD_OK;
    }
    BCAST_LOOP(at, n, y[o] = bin_apply(kind, a[ia], b[ib]));
    return PD_OK;
}

static pd_status bin_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const bin_attr *at = attr;
    const float *a = in[0]->data, *b = in[1]->data, *dy = out->grad;
    float *da = in[0]->grad, *db = in[1]->grad;
    size_t n = out->numel;
    int kind = at->kind;
    if (at->same) {
#pragma omp parallel for if (n > PD_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float g = dy[i];
            switch (kind) {
            case BIN_ADD: if (da) da[i] += g; if (db) db[i] += g; break;
            case BIN_SUB: if (da) da[i] += g; if (db) db[i] -= g; break;
            case BIN_MUL: if (da) da[i] += g * b[i]; if (db) db[i] += g * a[i]; break;
            default:
                if (da) da[i] += g / b[i];
                if (db) db[i] -= g * a[i] / (b[i] * b[i]);
            }
        }
        return PD_OK;
    }
    if (at->b_mode) {
        rep_bwd(kind, at->b_mode == B_TRAIL, a, b, dy, da, db, n, at->b_n);
        return PD_OK;
    }
    /* Broadcast dims are reduced by accumulating into the shared entry;
     * serial so no two iterations race on it. */
    BCAST_LOOP(at, n, {
        float g = dy[o];
        switch (kind) {
        case BIN_ADD: if (da) da[ia] += g; if (db) db[ib] += g; break;
        case BIN_SUB: if (da) da[ia] += g; if (db) db[ib] -= g; break;
        case BIN_MUL: if (da) da[ia] += g * b[ib]; if (db) db[ib] += g * a[ia]; break;
        default:
            if (da) da[ia] += g / b[ib];
            if (db) db[ib] -= g * a[ia] / (b[ib] * b[ib]);
        }
    });
    return PD_OK;
}

static const pd_op_def bin_ops[4] = {
    {"add", bin_fwd, bin_bwd},
    {"sub", bin_fwd, bin_bwd},
    {"mul", bin_fwd, bin_bwd},
    {"div", bin_fwd, bin_bwd},
};

/* Row-major strides of t aligned to an output of rank ndim; broadcast dims
 * get stride 0. */
static void bcast_strides(const pd_tensor *t, int ndim, const int *oshape, size_t *st) {
    size_t s = 1;
    int off = ndim - t->ndim;
    for (int d = ndim - 1; d >= 0; d--) {
        int td = d - off;
        if (td < 0) {
            st[d] = 0;
            continue;
        }
        st[d] = (t->shape[td] == 1 && oshape[d] != 1) ? 0 : s;
        s *= (size_t)t->shape[td];
    }
}

static pd_tensor *binary(pd_ctx *ctx, int kind, pd_tensor *a, pd_tensor *b) {
    PD_OP_GUARD(ctx, a, b);
    bin_attr at = {0};
    at.kind = kind;
    at.ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < at.ndim; d++) {
        int ad = d - (at.ndim - a->ndim), bd = d - (at.ndim - b->ndim);
        int sa = ad >= 0 ? a->shape[ad] : 1, sb = bd >= 0 ? b->shape[bd] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            pd_ctx_fail(ctx, PD_ERR_SHAPE, "%s: shapes %s and %s do not broadcast (dim %d: %d vs %d)",
                        bin_ops[kind].name, SHP(a), SHP(b), d, sa, sb);
            return NULL;
        }
        at.shape[d] = sa > sb ? sa : sb;
    }
    bcast_strides(a, at.ndim, at.shape, at.sa);
    bcast_strides(b, at.ndim, at.shape, at.sb);
    at.same = pd_shape_equal(a, b);
    if (!at.same && a->ndim == at.ndim && pd_shape_numel(at.shape, at.ndim) == a->numel) {
        /* strip b's leading ones, then compare with out's trailing / leading dims */
        int bd0 = 0;
        while (bd0 < b->ndim && b->shape[bd0] == 1) bd0++;
        int k = b->ndim - bd0;
        bool trail = k > 0 && k <= at.ndim;
        for (int i = 0; trail && i < k; i++)
            if (b->shape[bd0 + i] != at.shape[at.ndim - k + i]) trail = false;
        bool lead = b->ndim == at.ndim;
        int last = b->ndim - 1;
        while (last >= 0 && b->shape[last] == 1) last--;
        for (int i = 0; lead && i < b->ndim; i++)
            if (i <= last ? b->shape[i] != at.shape[i] : b->shape[i] != 1) lead = false;
        if (trail) at.b_mode = B_TRAIL;
        else if (lead && last >= 0) at.b_mode = B_LEAD;
        at.b_n = b->numel;
    }
    pd_tensor *ins[2] = {a, b};
    return pd_op_apply(ctx, &bin_ops[kind], ins, 2, at.shape, at.ndim, &at, sizeof at);
}

pd_tensor *pd_add(pd_ctx *ctx, pd_tensor *a, pd_tensor *b) { return binary(ctx, BIN_ADD, a, b); }
pd_tensor *pd_sub(pd_ctx *ctx, pd_tensor *a, pd_tensor *b) { return binary(ctx, BIN_SUB, a, b); }
pd_tensor *pd_mul(pd_ctx *ctx, pd_tensor *a, pd_tensor *b) { return binary(ctx, BIN_MUL, a, b); }
pd_tensor *pd_div(pd_ctx *ctx, pd_tensor *a, pd_tensor *b) { return binary(ctx, BIN_DIV, a, b); }

/* ---- affine: alpha * x + beta ---------------------------------------------- */

typedef struct {
    float alpha, beta;
} affine_attr;

static pd_status affine_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const affine_attr *at = attr;
    const float *x = in[0]->data;
    size_t n = y->numel;
#pragma omp parallel for if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++) y->data[i] = at->alpha * x[i] + at->beta;
    return PD_OK;
}

static pd_status affine_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const affine_attr *at = attr;
    float *dx = in[0]->grad;
    size_t n = y->numel;
#pragma omp parallel for if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++) dx[i] += at->alpha * y->grad[i];
    return PD_OK;
}

static const pd_op_def affine_op = {"affine", affine_fwd, affine_bwd};

pd_tensor *pd_affine(pd_ctx *ctx, pd_tensor *x, float alpha, float beta) {
    PD_OP_GUARD(ctx, x);
    affine_attr at = {alpha, beta};
    return pd_op_apply(ctx, &affine_op, &x, 1, x->shape, x->ndim, &at, sizeof at);
}

/* ---- adaLN helpers -------------------------------------------------------------
 * Both take x (B, M, D) viewed from (B, ..., D) and per-sample vectors
 * (B, D) broadcast over M, or per-element tensors of x's shape (M = 1 view
 * then covers everything). */

/* modulate: y = x * (1 + scale) + shift; inputs x, scale[, shift]. */
static pd_status modulate_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx;
    const ada_attr *at = attr;
    const float *x = in[0]->data, *sc = in[1]->data, *sh = n_in > 2 ? in[2]->data : NULL;
#pragma omp parallel for collapse(2) if (y->numel > PD_PAR_MIN)
    for (int b = 0; b < at->B; b++)
        for (int m = 0; m < at->M; m++) {
            size_t row = ((size_t)b * at->M + m) * at->D;
            const float *scr = sc + ada_idx(at, b, m, 0), *shr = sh ? sh + ada_idx(at, b, m, 0) : NULL;
            for (int d = 0; d < at->D; d++)
                y->data[row + d] = x[row + d] * (1.0f + scr[d]) + (shr ? shr[d] : 0.0f);
        }
    return PD_OK;
}

/* dx (+)= dy (1 + scale);  dscale (+)= sum_m dy x;  dshift (+)= sum_m dy. */
static pd_status modulate_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx;
    const ada_attr *at = attr;
    const float *x = in[0]->data, *sc = in[1]->data, *dy = y->grad;
    float *dx = in[0]->grad, *dsc = in[1]->grad, *dsh = n_in > 2 ? in[2]->grad : NULL;
    bool ux = dx && pd_grad_unset(in[0]);
    /* the conditioning gradients are sums: start them from zero if unset */
    pd_grad_zero_if_unset(in[1]);
    if (n_in > 2) pd_grad_zero_if_unset(in[2]);
    int D = at->D;
    /* Parallel over samples: per-sample conditioning rows are private to b. */
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (int b = 0; b < at->B; b++)
        for (int m = 0; m < at->M; m++) {
            size_t row = ((size_t)b * at->M + m) * D, c = ada_idx(at, b, m, 0);
            const float *restrict g = dy + row, *restrict xr = x + row, *restrict s = sc + c;
            if (dx) {
                float *restrict o = dx + row;
                for (int d = 0; d < D; d++) o[d] = pd_grad_acc(ux, o[d], g[d] * (1.0f + s[d]));
            }
            if (dsc) {
                float *restrict o = dsc + c;
                for (int d = 0; d < D; d++) o[d] += g[d] * xr[d];
            }
            if (dsh) {
                float *restrict o = dsh + c;
                for (int d = 0; d < D; d++) o[d] += g[d];
            }
        }
    return PD_OK;
}

static const pd_op_def modulate_op = {"modulate", modulate_fwd, modulate_bwd};

pd_tensor *pd_modulate(pd_ctx *ctx, pd_tensor *x, pd_tensor *shift, pd_tensor *scale) {
    PD_OP_GUARD(ctx, x, scale);
    ada_attr at;
    if (!ada_view(ctx, "modulate", x, scale, &at)) return NULL;
    if (shift) {
        ada_attr at2;
        if (!ada_view(ctx, "modulate", x, shift, &at2)) return NULL;
        if (at2.per_elem != at.per_elem) {
            pd_ctx_fail(ctx, PD_ERR_SHAPE, "modulate: shift %s and scale %s must have the same shape",
                        SHP(shift), SHP(scale));
            return NULL;
        }
    }
    pd_tensor *ins[3] = {x, scale, shift};
    return pd_op_apply_flags(ctx, &modulate_op, PD_OPF_GRAD_OVERWRITE, ins, shift ? 3 : 2, x->shape,
                             x->ndim, &at, sizeof at);
}

/* gated residual: y = x + gate * h; inputs x, gate, h. */
static pd_status gated_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const ada_attr *at = attr;
    const float *x = in[0]->data, *g = in[1]->data, *h = in[2]->data;
#pragma omp parallel for collapse(2) if (y->numel > PD_PAR_MIN)
    for (int b = 0; b < at->B; b++)
        for (int m = 0; m < at->M; m++) {
            size_t row = ((size_t)b * at->M + m) * at->D;
            const float *gr = g + ada_idx(at, b, m, 0);
            for (int d = 0; d < at->D; d++) y->data[row + d] = x[row + d] + gr[d] * h[row + d];
        }
    return PD_OK;
}

/* dx (+)= dy;  dgate (+)= sum_m dy h;  dh (+)= dy gate. */
static pd_status gated_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const ada_attr *at = attr;
    const float *g = in[1]->data, *h = in[2]->data, *dy = y->grad;
    float *dx = in[0]->grad, *dg = in[1]->grad, *dh = in[2]->grad;
    bool ux = dx && pd_grad_unset(in[0]), uh = dh && pd_grad_unset(in[2]);
    pd_grad_zero_if_unset(in[1]);
    int D = at->D;
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (int b = 0; b < at->B; b++)
        for (int m = 0; m < at->M; m++) {
            size_t row = ((size_t)b * at->M + m) * D, c = ada_idx(at, b, m, 0);
            const float *restrict gy = dy + row, *restrict hr = h + row, *restrict gr = g + c;
            if (dx) {
                float *restrict o = dx + row;
                for (int d = 0; d < D; d++) o[d] = pd_grad_acc(ux, o[d], gy[d]);
            }
            if (dg) {
                float *restrict o = dg + c;
                for (int d = 0; d < D; d++) o[d] += gy[d] * hr[d];
            }
            if (dh) {
                float *restrict o = dh + row;
                for (int d = 0; d < D; d++) o[d] = pd_grad_acc(uh, o[d], gy[d] * gr[d]);
            }
        }
    return PD_OK;
}

static const pd_op_def gated_op = {"gated_residual", gated_fwd, gated_bwd};

pd_tensor *pd_gated_residual(pd_ctx *ctx, pd_tensor *x, pd_tensor *gate, pd_tensor *h) {
    PD_OP_GUARD(ctx, x, gate, h);
    if (!pd_shape_equal(x, h)) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "gated_residual: x %s and h %s must have the same shape",
                    SHP(x), SHP(h));
        return NULL;
    }
    ada_attr at;
    if (!ada_view(ctx, "gated_residual", x, gate, &at)) return NULL;
    pd_tensor *ins[3] = {x, gate, h};
    return pd_op_apply_flags(ctx, &gated_op, PD_OPF_GRAD_OVERWRITE, ins, 3, x->shape, x->ndim, &at,
                             sizeof at);
}
