/* Shared by the adaLN ops (modulate, gated residual, fused RMSNorm +
 * modulate): x (B, M, D) viewed from (B, ..., D), conditioning either per
 * sample (B, D), broadcast over M, or per element (x's shape). */
#ifndef PD_ADA_UTIL_H
#define PD_ADA_UTIL_H

#include "op_util.h"

typedef struct {
    int B, M, D;
    int per_elem; /* conditioning has x's full shape */
} ada_attr;

/* Fills the (B, M, D) view; returns false (error recorded) when cond is
 * neither (B, D) nor shaped like x. */
static inline bool ada_view(pd_ctx *ctx, const char *op, const pd_tensor *x, const pd_tensor *cond,
                     ada_attr *at) {
    if (x->ndim < 2) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "%s: x %s must be (B, ..., D)", op, SHP(x));
        return false;
    }
    at->B = x->shape[0];
    at->D = x->shape[x->ndim - 1];
    at->M = (int)(x->numel / ((size_t)at->B * at->D));
    if (pd_shape_equal(cond, x)) {
        at->per_elem = 1;
        return true;
    }
    if (cond->ndim == 2 && cond->shape[0] == at->B && cond->shape[1] == at->D) {
        at->per_elem = 0;
        return true;
    }
    pd_ctx_fail(ctx, PD_ERR_SHAPE, "%s: conditioning %s must be (%d, %d) or x's shape %s", op,
                SHP(cond), at->B, at->D, SHP(x));
    return false;
}

/* Offset of the conditioning entry for x element (b, m, d). */
static inline size_t ada_idx(const ada_attr *at, size_t b, size_t m, size_t d) {
    return at->per_elem ? (b * at->M + m) * at->D + d : b * at->D + d;
}

#endif
