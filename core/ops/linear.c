/* linear (x W^T + b) and batched matmul, both on the GEMM seam (gemm.h)
 * at the context's precision. */
#include <stdlib.h>

#include "gemm.h"
#include "op_util.h"
#include "tape.h"

/* ---- linear ------------------------------------------------------------ */
/* x (rows, in) viewed from (..., in); w (out, in); b (out); y (rows, out). */

static pd_status linear_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)attr;
    const pd_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    int nout = w->shape[0], nin = w->shape[1];
    int rows = (int)(x->numel / (size_t)nin);
    if (b)
        return pd_gemm_bias(pd_ctx_precision(ctx), true, rows, nout, nin, x->data, nin, w->data, nin,
                            b->data, y->data, nout);
    return pd_gemm(pd_ctx_precision(ctx), false, true, rows, nout, nin, 1.0f, x->data, nin,
                   w->data, nin, 0.0f, y->data, nout);
}

/* db (n) (+)= column sums of dy (rows, n). A wide dy (n >= 128): threads
 * own column blocks. A narrow one (the per-pixel layers: n <= 64 over
 * 65536 rows, one column block): rows in fixed blocks of SUM_ROWS, each
 * block's sums in its own partial on any thread, the partials added in
 * block order. Either way the result does not depend on the thread count. */
#define SUM_ROWS 2048
static void column_sums_add(float *db, pd_tensor *b, const float *dy, int rows, int n) {
    pd_grad_zero_if_unset(b);
    if (n >= 128) { /* columns enough for the threads: they own column blocks */
#pragma omp parallel for if ((size_t)rows * n > PD_PAR_MIN)
        for (int o0 = 0; o0 < n; o0 += 64) {
            int o1 = o0 + 64 < n ? o0 + 64 : n;
            for (int r = 0; r < rows; r++)
                for (int o = o0; o < o1; o++) db[o] += dy[(size_t)r * n + o];
        }
        return;
    }
    int nb = (rows + SUM_ROWS - 1) / SUM_ROWS;
    float *part = nb > 1 ? malloc((size_t)nb * n * sizeof(float)) : NULL;
    if (!part) { /* one block, or no memory for the partials: in row order */
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < n; o++) db[o] += dy[(size_t)r * n + o];
        return;
    }
#pragma omp parallel for if ((size_t)rows * n > PD_PAR_MIN)
    for (int k = 0; k < nb; k++) {
        float *p = part + (size_t)k * n;
        for (int o = 0; o < n; o++) p[o] = 0.0f;
        int r1 = (k + 1) * SUM_ROWS < rows ? (k + 1) * SUM_ROWS : rows;
        for (int r = k * SUM_ROWS; r < r1; r++)
            for (int o = 0; o < n; o++) p[o] += dy[(size_t)r * n + o];
    }
    for (int k = 0; k < nb; k++)
        for (int o = 0; o < n; o++) db[o] += part[(size_t)k * n + o];
    free(part);
}

static pd_status linear_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)attr;
    pd_precision prec = pd_ctx_precision(ctx);
    pd_status st = PD_OK;
    pd_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    int nout = w->shape[0], nin = w->shape[1];
    int rows = (int)(x->numel / (size_t)nin);
    const float *dy = y->grad;
    if (x->grad) /* dx (rows, in) (+)= dy (rows, out) @ w (out, in) */
        st = pd_gemm(prec, false, false, rows, nin, nout, 1.0f, dy, nout, w->data, nin,
                     pd_grad_beta(x), x->grad, nin);
    if (w->grad && !st) /* dw (out, in) (+)= dy^T (out, rows) @ x (rows, in) */
        st = pd_gemm(prec, true, false, nout, nin, rows, 1.0f, dy, nout, x->data, nin,
                     pd_grad_beta(w), w->grad, nin);
    if (st) return st;
    if (b && b->grad) column_sums_add(b->grad, b, dy, rows, nout);
    return PD_OK;
}

static const pd_op_def linear_op = {"linear", linear_fwd, linear_bwd};

pd_tensor *pd_linear(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b) {
    PD_OP_GUARD(ctx, x, w);
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "linear: x %s and w %s: expected x (..., in) and w (out, in)",
                    SHP(x), SHP(w));
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "linear: b %s does not match w %s: expected (%d,)", SHP(b),
                    SHP(w), w->shape[0]);
        return NULL;
    }
    int shape[PD_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = w->shape[0];
    pd_tensor *ins[3] = {x, w, b};
    return pd_op_apply_flags(ctx, &linear_op, PD_OPF_GRAD_OVERWRITE, ins, b ? 3 : 2, shape,
                             x->ndim, NULL, 0);
}

/* ---- batched matmul ------------------------------------------------------ */

typedef struct {
    int batch, m, n, k, trans, b_shared;
} matmul_attr;

static pd_status matmul_fwd(pd_ctx *ctx, pd_tensor *c, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    const matmul_attr *at = attr;
    const pd_tensor *a = in[0], *b = in[1];
    int M = at->m, N = at->n, K = at->k;
    int lda = (at->trans & PD_TRANS_A) ? M : K, ldb = (at->trans & PD_TRANS_B) ? K : N;
    size_t sa = (size_t)M * K, sb = at->b_shared ? 0 : (size_t)K * N, sc = (size_t)M * N;
    pd_status st = PD_OK;
    for (int i = 0; i < at->batch && !st; i++)
        st = pd_gemm(pd_ctx_precision(ctx), at->trans & PD_TRANS_A, at->trans & PD_TRANS_B, M, N,
                     K, 1.0f, a->data + i * sa, lda, b->data + i * sb, ldb, 0.0f,
                     c->data + i * sc, N);
    return st;
}

static pd_status matmul_bwd(pd_ctx *ctx, pd_tensor *c, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    pd_precision prec = pd_ctx_precision(ctx);
    pd_status st = PD_OK;
    const matmul_attr *at = attr;
    pd_tensor *a = in[0], *b = in[1];
    int M = at->m, N = at->n, K = at->k;
    bool ta = at->trans & PD_TRANS_A, tb = at->trans & PD_TRANS_B;
    int lda = ta ? M : K, ldb = tb ? K : N;
    size_t sa = (size_t)M * K, sb = at->b_shared ? 0 : (size_t)K * N, sc = (size_t)M * N;
    for (int i = 0; i < at->batch && !st; i++) {
        const float *dc = c->grad + i * sc;
        if (a->grad) {
            /* A (M,K) = op(a): dA = dC B^T; if stored transposed, da = B dC^T. */
            if (!ta)
                st = pd_gemm(prec, false, !tb, M, K, N, 1.0f, dc, N, b->data + i * sb, ldb, 1.0f,
                             a->grad + i * sa, lda);
            else
                st = pd_gemm(prec, tb, true, K, M, N, 1.0f, b->data + i * sb, ldb, dc, N, 1.0f,
                             a->grad + i * sa, lda);
        }
        if (b->grad && !st) {
            /* B (K,N) = op(b): dB = A^T dC; if stored transposed, db = dC^T A. */
            if (!tb)
                st = pd_gemm(prec, !ta, false, K, N, M, 1.0f, a->data + i * sa, lda, dc, N, 1.0f,
                             b->grad + i * sb, ldb);
            else
                st = pd_gemm(prec, true, ta, N, K, M, 1.0f, dc, N, a->data + i * sa, lda, 1.0f,
                             b->grad + i * sb, ldb);
        }
    }
    return st;
}

static const pd_op_def matmul_op = {"matmul", matmul_fwd, matmul_bwd};

pd_tensor *pd_matmul(pd_ctx *ctx, pd_tensor *a, pd_tensor *b, int trans) {
    PD_OP_GUARD(ctx, a, b);
    if (a->ndim < 2 || b->ndim < 2) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "matmul: a %s and b %s must have rank >= 2", SHP(a), SHP(b));
        return NULL;
    }
    bool ta = trans & PD_TRANS_A, tb = trans & PD_TRANS_B;
    int M = ta ? pd_dim(a, -1) : pd_dim(a, -2), K = ta ? pd_dim(a, -2) : pd_dim(a, -1);
    int Kb = tb ? pd_dim(b, -1) : pd_dim(b, -2), N = tb ? pd_dim(b, -2) : pd_dim(b, -1);
    bool shared = b->ndim == 2 && a->ndim > 2;
    bool same_batch = a->ndim == b->ndim;
    for (int i = 0; same_batch && i < a->ndim - 2; i++)
        if (a->shape[i] != b->shape[i]) same_batch = false;
    if (K != Kb || !(shared || same_batch)) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "matmul: a %s and b %s (trans %d): inner dims %d vs %d, or batch dims differ",
                    SHP(a), SHP(b), trans, K, Kb);
        return NULL;
    }
    matmul_attr at = {(int)(pd_shape_numel(a->shape, a->ndim - 2)), M, N, K, trans, shared};
    int shape[PD_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[a->ndim - 2] = M;
    shape[a->ndim - 1] = N;
    pd_tensor *ins[2] = {a, b};
    return pd_op_apply(ctx, &matmul_op, ins, 2, shape, a->ndim, &at, sizeof at);
}
