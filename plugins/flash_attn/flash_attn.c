/* flash_attn: exact fused attention (docs/flash_attn.md).
 *
 * The same softmax(scale q k^T) v as the built-in sdpa, computed the
 * FlashAttention way: keys in blocks with an online softmax, one
 * log-sum-exp per query row kept for the backward, probabilities recomputed
 * block by block there. Memory is O(N) per head instead of sdpa's (N, M)
 * probability matrix per head. One custom op with its own backward; the
 * kernels are in flash_kernel.c. */
#include <stdio.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pixeldit/plugin.h"
#include "pixeldit/plugin_util.h"

#include "flash_kernel.h"

typedef struct {
    const pd_host_api *host;
    int block_q, block_k;
} flash_state;

/* The op's attribute block (copied into the step's arena by op_apply). */
typedef struct {
    const pd_host_api *host; /* op callbacks get no host table otherwise */
    flash_dims dm;
    float *lse; /* (B*H, N) log2-sum-exp2 per row, arena; NULL when not recording */
} flash_attr;

static const pd_plugin_key keys[] = {
    {"block_q", PD_KEY_INT, "64", "query rows per block (a multiple of 4)", "4..4096"},
    {"block_k", PD_KEY_INT, "64", "keys per block (a multiple of 16)", "16..4096"},
};

static int threads_for(int tasks) {
#ifdef _OPENMP
    int t = omp_get_max_threads();
    return t < tasks ? t : (tasks > 0 ? tasks : 1);
#else
    (void)tasks;
    return 1;
#endif
}

/* "(2, 3, 72, 64)" into buf; returns buf. */
static const char *shape_str(const pd_tensor *t, char *buf, size_t size) {
    int n = snprintf(buf, size, "(");
    for (int i = 0; i < t->ndim && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, i ? ", %d" : "%d", t->shape[i]);
    if (n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, ")");
    return buf;
}

/* q (BH, N, d), k, v (BH, M, d) -> o (BH, N, d); lse kept when recording. */
static pd_status flash_fwd(pd_ctx *ctx, pd_tensor *o, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    flash_attr *at = attr;
    const pd_host_api *h = at->host;
    int nt = threads_for(flash_fwd_tasks(&at->dm));
    float *scratch = h->ctx_alloc(ctx, (size_t)nt * flash_fwd_scratch(&at->dm) * sizeof(float));
    if (!scratch) return PD_ERR_NOMEM;
    if (h->ctx_recording(ctx)) {
        at->lse = h->ctx_alloc(ctx, (size_t)at->dm.bh * at->dm.n * sizeof(float));
        if (!at->lse) return PD_ERR_NOMEM;
    }
    flash_forward(&at->dm, in[0]->data, in[1]->data, in[2]->data, o->data, at->lse, scratch, nt);
    return PD_OK;
}

/* Adds into each input gradient that exists (the host zeroes unset ones
 * before a plugin op's backward). */
static pd_status flash_bwd(pd_ctx *ctx, pd_tensor *o, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    const flash_attr *at = attr;
    const pd_host_api *h = at->host;
    if (!in[0]->grad && !in[1]->grad && !in[2]->grad) return PD_OK;
    if (!at->lse)
        return h->ctx_fail(ctx, PD_ERR_STATE,
                           "flash_attn: backward without the forward's log-sum-exp (not recorded)");
    int nt = threads_for(flash_bwd_tasks(&at->dm));
    float *scratch = h->ctx_alloc(ctx, (size_t)nt * flash_bwd_scratch(&at->dm) * sizeof(float));
    if (!scratch) return PD_ERR_NOMEM;
    flash_backward(&at->dm, in[0]->data, in[1]->data, in[2]->data, o->data, o->grad, at->lse,
                   in[0]->grad, in[1]->grad, in[2]->grad, scratch, nt);
    return PD_OK;
}

static const pd_op_def flash_op = {"flash_attn", flash_fwd, flash_bwd};

static pd_status fa_create(const pd_host_api *host, const pd_model_info *info,
                           const pd_plugin_config *cfg, void **state) {
    (void)info;
    int bq = (int)host->cfg_int(cfg, "block_q"), bk = (int)host->cfg_int(cfg, "block_k");
    if (bq % 4)
        return host->fail(PD_ERR_CONFIG, "flash_attn: block_q = %d; expected a multiple of 4", bq);
    if (bk % 16)
        return host->fail(PD_ERR_CONFIG, "flash_attn: block_k = %d; expected a multiple of 16", bk);
    flash_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "flash_attn: out of memory");
    *s = (flash_state){.host = host, .block_q = bq, .block_k = bk};
    *state = s;
    return PD_OK;
}

static pd_tensor *fa_forward(void *state, pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v,
                             float scale) {
    const flash_state *s = state;
    const pd_host_api *h = s->host;
    if (!q || !k || !v) {
        h->ctx_fail(ctx, PD_ERR_ARG, "flash_attn: q, k or v is NULL");
        return NULL;
    }
    bool ok = q->ndim == 4 && k->ndim == 4 && v->ndim == 4;
    for (int i = 0; ok && i < 4; i++) {
        if (i != 2 && (k->shape[i] != q->shape[i] || v->shape[i] != q->shape[i])) ok = false;
        if (k->shape[i] != v->shape[i]) ok = false;
    }
    if (!ok) {
        char a[80], b[80], c[80];
        h->ctx_fail(ctx, PD_ERR_SHAPE,
                    "flash_attn: q %s, k %s, v %s: expected q (B, H, N, d) and k, v (B, H, M, d)",
                    shape_str(q, a, sizeof a), shape_str(k, b, sizeof b), shape_str(v, c, sizeof c));
        return NULL;
    }
    if (q->numel == 0 || k->numel == 0) {
        char a[80], b[80];
        h->ctx_fail(ctx, PD_ERR_SHAPE, "flash_attn: q %s, k %s: empty attention (no queries or keys)",
                    shape_str(q, a, sizeof a), shape_str(k, b, sizeof b));
        return NULL;
    }
    flash_attr at = {
        .host = h,
        .dm = {.bh = q->shape[0] * q->shape[1], .n = q->shape[2], .m = k->shape[2],
               .d = q->shape[3], .bq = s->block_q, .bk = s->block_k, .scale = scale},
        .lse = NULL,
    };
    pd_tensor *ins[3] = {q, k, v};
    return h->op_apply(ctx, &flash_op, ins, 3, q->shape, 4, &at, sizeof at);
}

/* q k^T and P v: two (N x M x d) GEMMs per head, as sdpa. */
static double fa_flops(void *state, int B, int H, int N, int M, int d) {
    (void)state;
    return 4.0 * B * H * (double)N * M * d;
}

static void fa_destroy(void *state) { free(state); }

static const pd_attention_vtable vtable = {
    .struct_size = sizeof(pd_attention_vtable),
    .create = fa_create,
    .forward = fa_forward,
    .flops = fa_flops,
    .destroy = fa_destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_ATTENTION,
    .name = "flash_attn",
    .version = "1.0.0",
    .description = "exact fused attention: online softmax over key blocks, O(N) memory",
    .keys = keys,
    .n_keys = (int)(sizeof keys / sizeof keys[0]),
    .vtable = &vtable,
};

PD_PLUGIN_ENTRY(desc)
