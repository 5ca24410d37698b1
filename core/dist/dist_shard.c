/* Splitting a global batch across ranks, and the per-step gradient
 * reduction: shared by the MPI and the serial builds. */
#include <stdlib.h>
#include <string.h>

#include "dist_internal.h"

void pd_dist_shard(int global, int rank, int size, int *first, int *count) {
    int base = global / size, extra = global % size;
    *count = base + (rank < extra);
    *first = rank * base + (rank < extra ? rank : extra);
}

pd_status pd_grad_sync_open(pd_grad_sync *g, pd_params *p, int n_scalars) {
    memset(g, 0, sizeof *g);
    g->n_grad = pd_params_numel(p, true);
    g->n = g->n_grad + (size_t)n_scalars;
    g->flat = malloc(g->n * sizeof(float));
    if (!g->flat)
        return pd_fail(PD_ERR_NOMEM, "dist: out of memory for the %zu-float gradient buffer", g->n);
    return PD_OK;
}

void pd_grad_sync_close(pd_grad_sync *g) {
    free(g->flat);
    memset(g, 0, sizeof *g);
}

/* Every trainable gradient, in registration order, into one buffer: one
 * MPI_Allreduce per step however many tensors the model has. */
pd_status pd_grad_sync_run(pd_grad_sync *g, pd_params *p, float weight, float *scalars,
                           int n_scalars) {
    if (g->n != g->n_grad + (size_t)n_scalars)
        return pd_fail(PD_ERR_ARG, "dist: %d scalars for a buffer made for %zu", n_scalars,
                       g->n - g->n_grad);
    size_t off = 0;
    for (int i = 0; i < pd_params_count(p); i++) {
        const pd_tensor *t = pd_params_at(p, i);
        if (!t->grad) continue; /* frozen */
        float *restrict dst = g->flat + off;
        const float *restrict src = t->grad;
        /* a B/16 gradient is 0.5 GB: one core's memory bandwidth is not enough */
#pragma omp parallel for if (t->numel > (1 << 16))
        for (size_t j = 0; j < t->numel; j++) dst[j] = weight * src[j];
        off += t->numel;
    }
    memcpy(g->flat + off, scalars, (size_t)n_scalars * sizeof(float));
    pd_status s = pd_dist_sum_f32(g->flat, g->n);
    if (s) return s;
    off = 0;
    for (int i = 0; i < pd_params_count(p); i++) {
        pd_tensor *t = pd_params_at(p, i);
        if (!t->grad) continue;
        float *restrict dst = t->grad;
        const float *restrict src = g->flat + off;
#pragma omp parallel for if (t->numel > (1 << 16))
        for (size_t j = 0; j < t->numel; j++) dst[j] = src[j];
        off += t->numel;
    }
    memcpy(scalars, g->flat + off, (size_t)n_scalars * sizeof(float));
    return PD_OK;
}
