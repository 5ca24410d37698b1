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
