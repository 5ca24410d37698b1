/* pixeldit/tensor.h - float32 tensors, the per-step context (arena + tape)
 * and reverse-mode autodiff.
 *
 * Ownership in one paragraph: a pd_ctx owns everything made during one step
 * (temporaries, their gradients, the tape) in a bump arena that
 * pd_ctx_reset() recycles without calling malloc again; a pd_params owns
 * parameters and their gradients; optimizers and EMA own their state. A
 * tensor never owns memory itself.
 *
 * Errors are sticky: an op that gets a NULL input, or whose shapes do not
 * match, returns NULL and records the first error in the context, so forward
 * code can be written straight through and checked once with
 * pd_ctx_status().
 */
#ifndef PIXELDIT_TENSOR_H
#define PIXELDIT_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pixeldit/precision.h"
#include "pixeldit/status.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

#define PD_MAX_DIMS 6      /* ranks 0..6 */
#define PD_MAX_INPUTS 8    /* inputs of one op node */
#define PD_TENSOR_MAGIC 0x50445431u /* "PDT1": live tensor */
#define PD_TENSOR_DEAD 0xDEADBEEFu  /* recycled by pd_ctx_reset */

enum pd_tensor_flags {
    PD_TF_REQUIRES_GRAD = 1u << 0, /* gradient flows into this tensor */
    PD_TF_PARAM = 1u << 1,         /* owned by a pd_params */
    PD_TF_ARENA = 1u << 2,         /* lives in a context arena (one step) */
    PD_TF_VIEW = 1u << 3,          /* data aliases another tensor's data */
    PD_TF_FROZEN = 1u << 4,        /* parameter that is never trained */
    /* bits 5 and up are the host's own (core/tensor/tape.h) */
};

struct pd_node;

/* Plugin ABI: plugins receive pd_tensor pointers and may read and write
 * the first five members (data, grad, ndim, shape, numel): their types,
 * order and offsets are frozen for plugin ABI 1.x, and PD_MAX_DIMS stays 6.
 * The members after numel are the host's (private: a plugin never reads or
 * writes them, and they may change in any release). A plugin never
 * allocates a pd_tensor itself (sizeof is not part of the ABI): tensors come
 * from the host table (tensor_empty, param_add, ops). */
typedef struct pd_tensor {
    float *data;            /* numel floats, contiguous, row-major */
    float *grad;            /* same size; NULL until a gradient exists */
    int ndim;               /* 0 = scalar */
    int shape[PD_MAX_DIMS];
    size_t numel;
    uint32_t magic;         /* PD_TENSOR_MAGIC while usable */
    uint32_t flags;         /* pd_tensor_flags */
    const char *name;       /* parameter name, or producing op name */
    struct pd_node *node;   /* producing op on the tape, or NULL */
    uint64_t step;          /* context step of an arena tensor */
} pd_tensor;

/* ---- context: arena + tape ------------------------------------------- */

typedef struct pd_ctx pd_ctx;

/* arena_bytes is the initial capacity (0: 64 MiB); the arena grows by
 * chunks (each twice the last) during the first step and is then reused
 * as it is, so a steady training loop allocates nothing. */
pd_ctx *pd_ctx_new(size_t arena_bytes);
void pd_ctx_free(pd_ctx *ctx);

/* Ends a step: every arena tensor is marked dead (using one afterwards is a
 * PD_ERR_STATE error naming the op), the tape is cleared, the sticky error
 * is cleared and the memory is recycled. */
void pd_ctx_reset(pd_ctx *ctx);

/* First error since the last reset (PD_OK if none); the message is in
 * pd_ctx_error(). */
pd_status pd_ctx_status(const pd_ctx *ctx);
const char *pd_ctx_error(const pd_ctx *ctx);
/* Records an error (first one wins) and returns s. */
pd_status pd_ctx_fail(pd_ctx *ctx, pd_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Grad mode: when disabled (sampling), ops record nothing on the tape and
 * keep nothing for backward. Returns the previous mode. */
bool pd_ctx_set_grad_enabled(pd_ctx *ctx, bool enabled);

/* Train mode (dropout active). Default false. Returns the previous mode. */
bool pd_ctx_set_training(pd_ctx *ctx, bool training);
bool pd_ctx_training(const pd_ctx *ctx);

/* Raw aligned scratch memory from the arena (64-byte aligned), valid until
 * the next reset. Returns NULL and records PD_ERR_NOMEM on failure. */
void *pd_ctx_alloc(pd_ctx *ctx, size_t bytes);
/* A scratch buffer owned by the context and reused by every caller: valid
 * until the next pd_ctx_scratch call, so only for memory an op needs
 * within one forward or backward call (e.g. im2col columns). Grows as
 * needed and is kept, so steady steps do not allocate. NULL + PD_ERR_NOMEM
 * on failure. */
void *pd_ctx_scratch(pd_ctx *ctx, size_t bytes);
/* Bytes in use now, and the high-water mark since creation. */
size_t pd_ctx_used(const pd_ctx *ctx);
size_t pd_ctx_peak(const pd_ctx *ctx);

/* How backward initialises an intermediate's gradient buffer:
 * LAZY (default): left unwritten; the first op that writes it overwrites it
 *      (ops that only accumulate get it zeroed first), which saves a memset
 *      per tensor.
 * ZERO: always zeroed first, as a plain accumulate-only autodiff would.
 * POISON: filled with NaN and then treated as LAZY, so an op that claims to
 *      overwrite but reads or skips part of the buffer shows up as NaN
 *      (used by the tests). All three give bit-identical gradients. */
typedef enum { PD_GRAD_INIT_LAZY = 0, PD_GRAD_INIT_ZERO, PD_GRAD_INIT_POISON } pd_grad_init;
void pd_ctx_set_grad_init(pd_ctx *ctx, pd_grad_init mode);

/* Fused kernels: when on (the default), models call the fused ops (RMSNorm +
 * modulate, the qk-norm + RoPE + head split); when off they run the same
 * maths as the composed reference ops, which the tests compare against. */
bool pd_ctx_set_fused(pd_ctx *ctx, bool fused);
bool pd_ctx_fused(const pd_ctx *ctx);

/* Sets the context's GEMM precision. PD_ERR_ARG (message: why, from
 * pd_precision_problem) and the context unchanged when p cannot run here. */
pd_status pd_ctx_set_precision(pd_ctx *ctx, pd_precision p);
pd_precision pd_ctx_precision(const pd_ctx *ctx);

/* Op profiling: when on, every op's forward and backward wall time is
 * added up per op name, and per part (the plugin whose forward recorded
 * the op, or the trunk outside plugins); pd_ctx_profile_print writes both
 * tables (time, calls, share), ops sorted by total time, and resets them. */
void pd_ctx_set_profile(pd_ctx *ctx, bool on);
/* Seconds of op time (forward + backward) in the table so far. */
double pd_ctx_profile_total(const pd_ctx *ctx);
void pd_ctx_profile_print(pd_ctx *ctx, FILE *out);

/* ---- tensors ---------------------------------------------------------- */

/* New arena tensor, uninitialised / zeroed / copied from data. shape may be
 * NULL when ndim == 0. Not requiring grad unless flagged by the caller. */
pd_tensor *pd_tensor_empty(pd_ctx *ctx, const int *shape, int ndim);
pd_tensor *pd_tensor_zeros(pd_ctx *ctx, const int *shape, int ndim);
pd_tensor *pd_tensor_from(pd_ctx *ctx, const float *data, const int *shape, int ndim);
/* Marks an arena leaf as needing a gradient (its grad is allocated, zeroed). */
pd_status pd_tensor_set_requires_grad(pd_ctx *ctx, pd_tensor *t);

/* A new shape over the same data and gradient, without copying. Only for
 * leaves (parameters, or arena tensors not produced by an op): gradients
 * then flow straight into the original. Views a conv weight (O, C, p, p)
 * as a linear weight (O, C*p*p), for example. */
pd_tensor *pd_view(pd_ctx *ctx, pd_tensor *t, const int *shape, int ndim);

/* Convenience shape builder: pd_shape(3, (int[]){B, N, D}) style is fine too. */
size_t pd_shape_numel(const int *shape, int ndim);
bool pd_shape_equal(const pd_tensor *a, const pd_tensor *b);
/* Writes "(2, 3, 4)" into buf (always NUL-terminated); returns buf. */
char *pd_shape_str(const pd_tensor *t, char *buf, size_t size);
/* Dimension i, negative counts from the end. */
int pd_dim(const pd_tensor *t, int i);

/* Checks that t is a live tensor usable in ctx; records an error naming
 * `what` otherwise. */
pd_status pd_tensor_check(pd_ctx *ctx, const pd_tensor *t, const char *what);

/* ---- autodiff ---------------------------------------------------------- */

/* Runs reverse-mode autodiff from a scalar (numel 1) loss: seeds dloss = 1,
 * walks the tape backwards and accumulates (+=) into every gradient,
 * parameters included. Errors: loss not scalar, not produced on the tape,
 * backward already run this step. */
pd_status pd_backward(pd_ctx *ctx, pd_tensor *loss);

/* ---- custom ops -------------------------------------------------------- */

/* An op = forward + backward on float32 tensors. The core's own ops are
 * defined this way, and plugins register theirs with the same struct.
 *
 * forward: fills out->data (already allocated with the requested shape)
 *          from in[0..n_in). attr points to the op's attribute block (a
 *          copy in the arena that forward may also use to stash pointers to
 *          memory saved for backward, obtained with pd_ctx_alloc).
 * backward: out->grad holds dL/dout. For each i with in[i]->grad != NULL,
 *          accumulate (+=) dL/din[i] into in[i]->grad. Inputs that need no
 *          gradient have grad == NULL and must be skipped. The buffers are
 *          always initialised (zeros, or earlier contributions): only the
 *          core's own ops may opt in to storing into unset ones.
 * Both return PD_OK or an error (use pd_ctx_fail for the message). */
typedef struct pd_op_def {
    const char *name;
    pd_status (*forward)(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr);
    pd_status (*backward)(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr);
} pd_op_def;

/* Applies an op: checks the inputs are live, allocates the output, runs
 * forward, and records a tape node when grad mode is on and any input needs
 * a gradient. attr (attr_size bytes, may be 0) is copied into the arena.
 * Returns the output, or NULL with the error recorded in ctx. */
pd_tensor *pd_op_apply(pd_ctx *ctx, const pd_op_def *def, pd_tensor *const *in, int n_in,
                       const int *out_shape, int out_ndim, const void *attr, size_t attr_size);

/* True when the op being applied will be recorded (so forward should save
 * what backward needs); valid inside a forward callback. */
bool pd_ctx_recording(const pd_ctx *ctx);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
