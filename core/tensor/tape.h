/* The tape's internal interface for libpixeldit's own ops (not public API):
 * applying an op with flags, aliasing views, and the gradient-overwrite
 * protocol. Defined in autograd.c; plugins get only pd_op_apply. */
#ifndef PD_TAPE_H
#define PD_TAPE_H

#include <stdbool.h>
#include <string.h>

#include "pixeldit/tensor.h"

/* A tensor of `shape` over x's data starting at `offset` floats, with its
 * gradient aliased into x's gradient, so it needs no tape node and no copy
 * either way (reshape, contiguous slices). The whole range must lie in x. */
pd_tensor *pd_op_alias(pd_ctx *ctx, pd_tensor *x, const int *shape, int ndim, size_t offset,
                       const char *name);

/* ---- gradient overwrite ----------------------------------------------------
 * An op applied with PD_OPF_GRAD_OVERWRITE promises that its backward
 * writes every element of each input gradient it is given, storing (not
 * adding) where pd_grad_unset() says the buffer was not written yet this
 * step. Backward then skips zeroing those buffers. Ops without the flag
 * get zeroed buffers and simply accumulate. */
#define PD_OPF_GRAD_OVERWRITE 1u

/* pd_tensor.flags bit (after the public pd_tensor_flags): the gradient was
 * allocated this backward and not written yet; only ops applied with
 * PD_OPF_GRAD_OVERWRITE see it set. */
#define PD_TF_GRAD_UNSET (1u << 5)

pd_tensor *pd_op_apply_flags(pd_ctx *ctx, const pd_op_def *def, unsigned op_flags,
                             pd_tensor *const *in, int n_in, const int *out_shape, int out_ndim,
                             const void *attr, size_t attr_size);

/* True when t's gradient holds no value yet: store into it, do not add. */
static inline bool pd_grad_unset(const pd_tensor *t) { return t->flags & PD_TF_GRAD_UNSET; }
/* For a gradient an op sums into (a reduction): zero it if it is unset.
 * t may be NULL or have no gradient. */
static inline void pd_grad_zero_if_unset(pd_tensor *t) {
    if (t && t->grad && pd_grad_unset(t)) memset(t->grad, 0, t->numel * sizeof(float));
}
/* sgemm beta for accumulating into t's gradient. */
static inline float pd_grad_beta(const pd_tensor *t) { return pd_grad_unset(t) ? 0.0f : 1.0f; }
/* old + v, or v alone when the destination is unset (the branch is loop
 * invariant, so compilers unswitch the loop). */
static inline float pd_grad_acc(bool unset, float old, float v) { return unset ? v : old + v; }

#endif
