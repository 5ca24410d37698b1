/* Helpers shared by the op implementations (internal). */
#ifndef PD_OP_UTIL_H
#define PD_OP_UTIL_H

#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pixeldit/ops.h"

/* Formats a tensor's shape into a caller buffer: SHP(t) in error messages. */
typedef struct { char s[80]; } pd_shp_buf;
static inline pd_shp_buf pd_shp(const pd_tensor *t) {
    pd_shp_buf b;
    pd_shape_str(t, b.s, sizeof b.s);
    return b;
}
#define SHP(t) (pd_shp(t).s)

/* Returns NULL from an op when a tensor argument is NULL (the producer has
 * already recorded why) or the context already holds an error. */
#define PD_OP_GUARD(ctx, ...)                                                     \
    do {                                                                          \
        if (!(ctx) || pd_ctx_status(ctx) != PD_OK) return NULL;                   \
        const void *pd_guard_args_[] = {__VA_ARGS__};                             \
        for (size_t pd_i_ = 0; pd_i_ < sizeof pd_guard_args_ / sizeof(void *); pd_i_++) \
            if (!pd_guard_args_[pd_i_]) {                                         \
                pd_ctx_fail((ctx), PD_ERR_ARG, "%s: input %zu is NULL", __func__, pd_i_); \
                return NULL;                                                      \
            }                                                                     \
    } while (0)

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

/* Work size above which element loops are split across OpenMP threads. */
#define PD_PAR_MIN 32768

/* Threads a kernel with `work` elements will run on (for sizing per-thread
 * scratch), and the caller's index in its team. */
static inline int pd_par_threads(size_t work) {
#ifdef _OPENMP
    return work > PD_PAR_MIN ? omp_get_max_threads() : 1;
#else
    (void)work;
    return 1;
#endif
}
static inline int pd_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Normalises a possibly negative axis; -1 when out of range. */
static inline int pd_axis(int axis, int ndim) {
    if (axis < 0) axis += ndim;
    return (axis >= 0 && axis < ndim) ? axis : -1;
}

#endif
