/* The step context: a bump arena of chunks that grows during warm-up and
 * is then reused as it is, two alternating tensor-header pools, the tape,
 * and the sticky error. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx_internal.h"
#include "pixeldit/runtime.h"

#define PD_ALIGN 64
#define PD_DEFAULT_ARENA (64u << 20)

static size_t align_up(size_t n) { return (n + PD_ALIGN - 1) & ~(size_t)(PD_ALIGN - 1); }

static pd_chunk *chunk_new(size_t cap) {
    pd_chunk *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    cap = align_up(cap);
    c->mem = aligned_alloc(PD_ALIGN, cap);
    if (!c->mem) {
        free(c);
        return NULL;
    }
    c->cap = cap;
    return c;
}

static void chunks_free(pd_chunk *c) {
    while (c) {
        pd_chunk *n = c->next;
        free(c->mem);
        free(c);
        c = n;
    }
}

pd_ctx *pd_ctx_new(size_t arena_bytes) {
    pd_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        pd_fail(PD_ERR_NOMEM, "pd_ctx_new: out of memory");
        return NULL;
    }
    ctx->chunks = chunk_new(arena_bytes ? arena_bytes : PD_DEFAULT_ARENA);
    if (!ctx->chunks) {
        free(ctx);
        pd_fail(PD_ERR_NOMEM, "pd_ctx_new: cannot allocate a %zu-byte arena", arena_bytes);
        return NULL;
    }
    ctx->cur = ctx->chunks;
    ctx->grad_enabled = true;
    ctx->fused = true;
    ctx->step = 1;
    return ctx;
}

static void pool_free(pd_hdr_pool *p) {
    pd_hdr_block *b = p->head;
    while (b) {
        pd_hdr_block *n = b->next;
        free(b);
        b = n;
    }
}

void pd_ctx_free(pd_ctx *ctx) {
    if (!ctx) return;
    chunks_free(ctx->chunks);
    pool_free(&ctx->pools[0]);
    pool_free(&ctx->pools[1]);
    free(ctx->scratch);
    free(ctx);
}

/* Marks every header handed out from pool p dead and rewinds it. */
static void pool_retire(pd_hdr_pool *p) {
    for (pd_hdr_block *b = p->head; b; b = b->next) {
        int n = (b == p->cur) ? p->used_in_cur : 256;
        for (int i = 0; i < n; i++) {
            b->hdr[i].magic = PD_TENSOR_DEAD;
            b->hdr[i].data = NULL;
            b->hdr[i].grad = NULL;
        }
        if (b == p->cur) break;
    }
    p->cur = p->head;
    p->used_in_cur = 0;
}

void pd_ctx_reset(pd_ctx *ctx) {
    if (!ctx) return;
    pool_retire(&ctx->pools[ctx->step & 1]);
    ctx->step++;
    ctx->tape = NULL;
    ctx->n_nodes = 0;
    ctx->backward_done = false;
    ctx->status = PD_OK;
    ctx->err[0] = '\0';
    /* The chunks grown during warm-up are kept and refilled in order: no
     * allocation, and no fresh pages to fault in, in later steps. */
    for (pd_chunk *c = ctx->chunks; c; c = c->next) c->used = 0;
    ctx->cur = ctx->chunks;
    ctx->total_used = 0;
}

pd_status pd_ctx_status(const pd_ctx *ctx) { return ctx ? ctx->status : PD_ERR_ARG; }

const char *pd_ctx_error(const pd_ctx *ctx) { return ctx ? ctx->err : "no context"; }

pd_status pd_ctx_fail(pd_ctx *ctx, pd_status s, const char *fmt, ...) {
    if (ctx->status != PD_OK) return s; /* keep the first error */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    ctx->status = s;
    pd_fail(s, "%s", ctx->err);
    return s;
}

void pd_ctx_error_prefix(pd_ctx *ctx, const char *prefix) {
    size_t n = strlen(prefix);
    if (ctx->status == PD_OK || strncmp(ctx->err, prefix, n) == 0) return;
    char old[sizeof ctx->err];
    memcpy(old, ctx->err, sizeof old);
    snprintf(ctx->err, sizeof ctx->err, "%s%s", prefix, old);
    pd_fail(ctx->status, "%s", ctx->err);
}

bool pd_ctx_set_grad_enabled(pd_ctx *ctx, bool enabled) {
    bool old = ctx->grad_enabled;
    ctx->grad_enabled = enabled;
    return old;
}
void pd_ctx_set_grad_init(pd_ctx *ctx, pd_grad_init mode) { ctx->grad_init = mode; }
bool pd_ctx_set_fused(pd_ctx *ctx, bool fused) {
    bool old = ctx->fused;
    ctx->fused = fused;
    return old;
}
bool pd_ctx_fused(const pd_ctx *ctx) { return ctx->fused; }
pd_status pd_ctx_set_precision(pd_ctx *ctx, pd_precision p) {
    const char *why = pd_precision_problem(p);
    if (why) return pd_fail(PD_ERR_ARG, "%s", why);
    ctx->precision = p;
    return PD_OK;
}
pd_precision pd_ctx_precision(const pd_ctx *ctx) { return ctx->precision; }

pd_attention_binding pd_ctx_bind_attention(pd_ctx *ctx, pd_attention_binding b) {
    pd_attention_binding old = ctx->attention;
    ctx->attention = b;
    return old;
}

pd_attention_binding pd_ctx_bound_attention(const pd_ctx *ctx) { return ctx->attention; }
bool pd_ctx_set_training(pd_ctx *ctx, bool training) {
    bool old = ctx->training;
    ctx->training = training;
    return old;
}
bool pd_ctx_training(const pd_ctx *ctx) { return ctx->training; }
bool pd_ctx_recording(const pd_ctx *ctx) { return ctx->recording_now; }

void *pd_ctx_alloc(pd_ctx *ctx, size_t bytes) {
    size_t need = align_up(bytes ? bytes : 1);
    pd_chunk *c = ctx->cur;
    while (c && c->used + need > c->cap) c = c->next;
    if (!c) {
        size_t cap = ctx->cur->cap * 2;
        if (cap < need) cap = need;
        c = chunk_new(cap);
        if (!c) {
            pd_ctx_fail(ctx, PD_ERR_NOMEM, "arena: cannot allocate %zu bytes", need);
            return NULL;
        }
        pd_chunk *last = ctx->chunks;
        while (last->next) last = last->next;
        last->next = c;
    }
    ctx->cur = c;
    void *p = c->mem + c->used;
    c->used += need;
    ctx->total_used += need;
    if (ctx->total_used > ctx->peak) ctx->peak = ctx->total_used;
    return p;
}

void *pd_ctx_scratch(pd_ctx *ctx, size_t bytes) {
    if (bytes > ctx->scratch_cap) {
        free(ctx->scratch);
        ctx->scratch_cap = 0;
        ctx->scratch = aligned_alloc(PD_ALIGN, align_up(bytes));
        if (!ctx->scratch) {
            pd_ctx_fail(ctx, PD_ERR_NOMEM, "scratch: cannot allocate %zu bytes", bytes);
            return NULL;
        }
        ctx->scratch_cap = align_up(bytes);
    }
    return ctx->scratch;
}

size_t pd_ctx_used(const pd_ctx *ctx) { return ctx->total_used; }
size_t pd_ctx_peak(const pd_ctx *ctx) { return ctx->peak; }

pd_tensor *pd_ctx_new_header(pd_ctx *ctx) {
    pd_hdr_pool *p = &ctx->pools[ctx->step & 1];
    if (!p->cur || p->used_in_cur == 256) {
        pd_hdr_block *next = p->cur ? p->cur->next : p->head;
        if (!next) {
            next = calloc(1, sizeof *next);
            if (!next) {
                pd_ctx_fail(ctx, PD_ERR_NOMEM, "arena: cannot allocate tensor headers");
                return NULL;
            }
            if (p->cur) p->cur->next = next;
            else p->head = next;
        }
        p->cur = next;
        p->used_in_cur = 0;
    }
    pd_tensor *t = &p->cur->hdr[p->used_in_cur++];
    memset(t, 0, sizeof *t);
    t->magic = PD_TENSOR_MAGIC;
    t->flags = PD_TF_ARENA;
    t->step = ctx->step;
    return t;
}

void pd_ctx_set_profile(pd_ctx *ctx, bool on) { ctx->profile = on; }

const char *pd_ctx_profile_scope(pd_ctx *ctx, const char *label) {
    const char *prev = ctx->scope;
    ctx->scope = label;
    return prev;
}

/* The per-part totals (8 parts: the trunk and a few plugins). */
static void part_add(pd_ctx *ctx, const char *scope, double seconds, bool bwd) {
    int i = 0;
    while (i < ctx->n_parts && ctx->parts[i].label != scope) i++;
    if (i == ctx->n_parts) {
        if (i == 8) return;
        ctx->parts[i].label = scope;
        ctx->parts[i].fwd_s = ctx->parts[i].bwd_s = 0;
        ctx->n_parts++;
    }
    if (bwd) ctx->parts[i].bwd_s += seconds;
    else ctx->parts[i].fwd_s += seconds;
}

void pd_ctx_profile_add(pd_ctx *ctx, const char *name, const char *scope, double seconds, bool bwd) {
    part_add(ctx, scope, seconds, bwd);
    int i = 0;
    while (i < ctx->n_prof && ctx->prof[i].name != name && strcmp(ctx->prof[i].name, name)) i++;
    if (i == ctx->n_prof) {
        if (i == 64) return;
        ctx->prof[i].name = name;
        ctx->prof[i].fwd_s = ctx->prof[i].bwd_s = 0;
        ctx->prof[i].fwd_n = ctx->prof[i].bwd_n = 0;
        ctx->n_prof++;
    }
    if (bwd) {
        ctx->prof[i].bwd_s += seconds;
        ctx->prof[i].bwd_n++;
    } else {
        ctx->prof[i].fwd_s += seconds;
        ctx->prof[i].fwd_n++;
    }
}

double pd_ctx_profile_total(const pd_ctx *ctx) {
    double total = 0;
    for (int i = 0; i < ctx->n_prof; i++) total += ctx->prof[i].fwd_s + ctx->prof[i].bwd_s;
    return total;
}

void pd_ctx_profile_print(pd_ctx *ctx, FILE *out) {
    double total = pd_ctx_profile_total(ctx);
    /* selection sort by total time: the table is small */
    for (int i = 0; i < ctx->n_prof; i++)
        for (int j = i + 1; j < ctx->n_prof; j++)
            if (ctx->prof[j].fwd_s + ctx->prof[j].bwd_s > ctx->prof[i].fwd_s + ctx->prof[i].bwd_s) {
                __typeof__(ctx->prof[0]) t = ctx->prof[i];
                ctx->prof[i] = ctx->prof[j];
                ctx->prof[j] = t;
            }
    fprintf(out, "%-20s %10s %7s %10s %7s %6s\n", "op", "fwd ms", "calls", "bwd ms", "calls", "share");
    for (int i = 0; i < ctx->n_prof; i++)
        fprintf(out, "%-20s %10.2f %7ld %10.2f %7ld %5.1f%%\n", ctx->prof[i].name,
                1e3 * ctx->prof[i].fwd_s, ctx->prof[i].fwd_n, 1e3 * ctx->prof[i].bwd_s,
                ctx->prof[i].bwd_n,
                total > 0 ? 100 * (ctx->prof[i].fwd_s + ctx->prof[i].bwd_s) / total : 0.0);
    /* the same time by part: whose forward recorded the op */
    fprintf(out, "%-34s %10s %10s %6s\n", "part", "fwd ms", "bwd ms", "share");
    for (int i = 0; i < ctx->n_parts; i++)
        fprintf(out, "%-34s %10.2f %10.2f %5.1f%%\n",
                ctx->parts[i].label ? ctx->parts[i].label : "outside plugins (JiT trunk)",
                1e3 * ctx->parts[i].fwd_s, 1e3 * ctx->parts[i].bwd_s,
                total > 0 ? 100 * (ctx->parts[i].fwd_s + ctx->parts[i].bwd_s) / total : 0.0);
    ctx->n_prof = 0;
    ctx->n_parts = 0;
}
