/* Internal layout of pd_ctx and tape nodes (not part of the public API). */
#ifndef PD_CTX_INTERNAL_H
#define PD_CTX_INTERNAL_H

#include "ctx_attention.h"
#include "pixeldit/tensor.h"

typedef struct pd_node {
    const pd_op_def *def;
    pd_tensor *out;
    pd_tensor *in[PD_MAX_INPUTS];
    int n_in;
    void *attr;
    unsigned op_flags;   /* PD_OPF_* */
    const char *scope;   /* profile part it was recorded in (NULL: outside plugins) */
    struct pd_node *prev;
} pd_node;

typedef struct pd_chunk {
    struct pd_chunk *next;
    size_t cap, used;
    unsigned char *mem; /* 64-byte aligned */
} pd_chunk;

/* Tensor headers live in two pools used on alternate steps, so a header
 * from the previous step is never reused by the current one and a stale
 * pointer reliably reads PD_TENSOR_DEAD. */
typedef struct pd_hdr_block {
    struct pd_hdr_block *next;
    pd_tensor hdr[256];
} pd_hdr_block;

typedef struct pd_hdr_pool {
    pd_hdr_block *head;  /* blocks in allocation order */
    pd_hdr_block *cur;   /* block being filled */
    int used_in_cur;
} pd_hdr_pool;

struct pd_ctx {
    pd_chunk *chunks;    /* first = current fill target order: newest last */
    pd_chunk *cur;
    size_t total_used, peak;
    pd_hdr_pool pools[2];
    uint64_t step;
    pd_node *tape;       /* newest node */
    size_t n_nodes;
    bool grad_enabled, training, recording_now, backward_done;
    pd_status status;
    char err[1024];
    pd_grad_init grad_init;
    bool fused;          /* pd_ctx_set_fused */
    pd_precision precision; /* pd_ctx_set_precision */
    bool profile;        /* pd_ctx_set_profile */
    int n_prof;
    struct { const char *name; double fwd_s, bwd_s; long fwd_n, bwd_n; } prof[64];
    const char *scope;   /* pd_ctx_profile_scope: the plugin whose forward runs */
    int n_parts;
    struct { const char *label; double fwd_s, bwd_s; } parts[8]; /* per scope */
    void *scratch;       /* pd_ctx_scratch buffer */
    size_t scratch_cap;
    pd_attention_binding attention; /* pd_ctx_bind_attention (ctx_attention.h) */
};

/* Puts `prefix` before the context's sticky error (once; nothing when the
 * context has no error), e.g. "decoder plugin my_head: " around an error
 * raised inside a plugin's forward. */
void pd_ctx_error_prefix(pd_ctx *ctx, const char *prefix);

/* Adds one timed call of op `name`, recorded in part `scope`, to the
 * profile (backward: bwd). */
void pd_ctx_profile_add(pd_ctx *ctx, const char *name, const char *scope, double seconds, bool bwd);

/* Ops recorded from now on belong to profile part `label` (a plugin's
 * "decoder plugin NAME", which must outlive the context; NULL: outside
 * plugins), forward and backward. Returns the previous part, to restore. */
const char *pd_ctx_profile_scope(pd_ctx *ctx, const char *label);

/* Allocates a tensor header in the current step's pool (no data). */
pd_tensor *pd_ctx_new_header(pd_ctx *ctx);

#endif
