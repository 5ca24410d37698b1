/* The training step's gradient reduction (internal to libpixeldit). */
#ifndef PD_DIST_INTERNAL_H
#define PD_DIST_INTERNAL_H

#include "pixeldit/dist.h"
#include "pixeldit/params.h"

/* One flat buffer: every trainable gradient, then n_scalars floats (loss,
 * loss parts, flags) that ride along in the same MPI_Allreduce. */
typedef struct pd_grad_sync {
    float *flat;   /* (n) */
    size_t n_grad; /* trainable elements */
    size_t n;      /* n_grad + scalars */
} pd_grad_sync;

pd_status pd_grad_sync_open(pd_grad_sync *g, pd_params *p, int n_scalars);
void pd_grad_sync_close(pd_grad_sync *g);
/* Packs weight * grad of every trainable parameter and scalars[n_scalars]
 * (already weighted by the caller), sums them over all ranks, and writes
 * the sums back to the gradients and scalars. weight is this rank's share
 * of the global batch (count / global), so the sum is the gradient of the
 * global mean loss. */
pd_status pd_grad_sync_run(pd_grad_sync *g, pd_params *p, float weight, float *scalars,
                           int n_scalars);

#endif
