/* Embedding lookup: rows of a table gathered by integer ids. */
#include "op_util.h"

typedef struct {
    int n;          /* number of ids */
    const int *ids; /* (n) copy in the arena: the caller's array may change */
} embedding_attr;

/* table (V, D), out (n, D): out[i] = table[ids[i]]. */
static pd_status embedding_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in,
                               void *attr) {
    (void)ctx, (void)n_in;
    const embedding_attr *at = attr;
    const pd_tensor *table = in[0];
    size_t D = (size_t)table->shape[1];
    for (int i = 0; i < at->n; i++)
        memcpy(out->data + (size_t)i * D, table->data + (size_t)at->ids[i] * D, D * sizeof(float));
    return PD_OK;
}

/* dtable[ids[i]] += dout[i]; serial because ids may repeat. */
static pd_status embedding_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in,
                               void *attr) {
    (void)ctx, (void)n_in;
    const embedding_attr *at = attr;
    pd_tensor *table = in[0];
    if (!table->grad) return PD_OK;
    size_t D = (size_t)table->shape[1];
    for (int i = 0; i < at->n; i++) {
        float *dst = table->grad + (size_t)at->ids[i] * D;
        const float *src = out->grad + (size_t)i * D;
        for (size_t d = 0; d < D; d++) dst[d] += src[d];
    }
    return PD_OK;
}

static const pd_op_def embedding_op = {"embedding", embedding_fwd, embedding_bwd};

pd_tensor *pd_embedding(pd_ctx *ctx, pd_tensor *table, const int *ids, int n) {
    PD_OP_GUARD(ctx, table, ids);
    if (table->ndim != 2) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "embedding: table %s must be (V, D)", SHP(table));
        return NULL;
    }
    if (n <= 0) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "embedding: %d ids, need at least one", n);
        return NULL;
    }
    int V = table->shape[0];
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            pd_ctx_fail(ctx, PD_ERR_ARG, "embedding: id %d at position %d is outside [0, %d) of table %s",
                        ids[i], i, V, SHP(table));
            return NULL;
        }
    int *copy = pd_ctx_alloc(ctx, (size_t)n * sizeof(int));
    if (!copy) return NULL;
    memcpy(copy, ids, (size_t)n * sizeof(int));
    embedding_attr at = {n, copy};
    int shape[2] = {n, table->shape[1]};
    return pd_op_apply(ctx, &embedding_op, &table, 1, shape, 2, &at, sizeof at);
}
