/* The JiT backbone: parameters (official state_dict names), init, forward.
 * The head and the attention kernel are plugins (see pixeldit/plugin.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx_attention.h"
#include "pixeldit/jit.h"
#include "pixeldit/limits.h"
#include "pixeldit/ops.h"
#include "pixeldit/plugin_host.h"

#define RMS_EPS 1e-6f

typedef struct jit_block {
    pd_tensor *norm1, *q_norm, *k_norm, *qkv_w, *qkv_b, *proj_w, *proj_b;
    pd_tensor *norm2, *w12_w, *w12_b, *w3_w, *w3_b, *ada_w, *ada_b;
    bool dropout; /* JiT drops only in blocks depth//4 <= i < depth//4*3 */
} jit_block;

struct pd_jit {
    pd_jit_config cfg;
    pd_model_info info;
    pd_params *params;
    int hd, mlp_hidden, grid, N;
    pd_tensor *pos_embed;        /* (1, N, D) frozen */
    pd_tensor *ctx_posemb;       /* (1, L, D) or NULL */
    pd_tensor *t_w0, *t_b0, *t_w2, *t_b2; /* t_embedder.mlp.0 / .2 */
    pd_tensor *y_table;          /* (num_classes + 1, D) */
    pd_tensor *proj1_w;          /* (d', C, p, p) */
    pd_tensor *proj2_w, *proj2_b; /* (D, d', 1, 1), (D) */
    jit_block *blocks;
    pd_rope_table rope;          /* N rows */
    pd_rope_table rope_ctx;      /* L identity rows + N rows */
    const pd_plugin *dec_pl, *attn_pl; /* forward goes through pd_plugin_*_forward (checked) */
    const pd_decoder_vtable *dec;
    void *dec_state;
    const pd_attention_vtable *attn;
    void *attn_state;
};

int pd_jit_mlp_hidden(const pd_jit_config *c) {
    int h = (int)((double)c->hidden_size * c->mlp_ratio); /* mlp_hidden_dim */
    return (int)((double)h * 2.0 / 3.0);                  /* SwiGLUFFN's 2/3 */
}

/* Formats why[n] and returns key: one line per rule below. */
static const char *problem(const char *key, char *why, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return key;
}

const char *pd_jit_config_problem(const pd_jit_config *c, char *why, size_t n) {
    const struct { const char *key; int v; } sizes[] = {
        {"image_size", c->image_size}, {"channels", c->channels}, {"patch_size", c->patch_size},
        {"hidden_size", c->hidden_size}, {"depth", c->depth}, {"num_heads", c->num_heads},
        {"bottleneck_dim", c->bottleneck_dim}, {"num_classes", c->num_classes}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].v < 1) return problem(sizes[i].key, why, n, "must be >= 1, got %d", sizes[i].v);
    if (c->image_size % c->patch_size)
        return problem("image_size", why, n, "must be a multiple of [model] patch_size = %d",
                       c->patch_size);
    if (c->hidden_size % c->num_heads)
        return problem("hidden_size", why, n, "must be a multiple of [model] num_heads = %d",
                       c->num_heads);
    /* 2D RoPE rotates half the head by the row and half by the column, each
     * in pairs; the sin-cos embedding splits D in quarters the same way, and
     * D = heads * head_dim is then a multiple of 4 too. */
    int hd = c->hidden_size / c->num_heads;
    if (hd % 4)
        return problem("hidden_size", why, n,
                       "head dimension hidden_size / num_heads = %d / %d = %d must be a multiple of "
                       "4 for 2D RoPE", c->hidden_size, c->num_heads, hd);
    if (c->in_context_len < 0)
        return problem("in_context_len", why, n, "must be >= 0, got %d", c->in_context_len);
    /* in_context_start == depth would insert the class tokens nowhere and
     * then cut N real tokens off the output */
    if (c->in_context_len > 0 && (c->in_context_start < 0 || c->in_context_start >= c->depth))
        return problem("in_context_start", why, n,
                       "must be in [0, [model] depth = %d) when [model] in_context_len = %d > 0 "
                       "(the block that receives the class tokens)",
                       c->depth, c->in_context_len);
    if (pd_jit_mlp_hidden(c) < 1)
        return problem("mlp_ratio", why, n, "gives an empty SwiGLU hidden layer for hidden_size = %d",
                       c->hidden_size);
    if (!(c->proj_dropout >= 0 && c->proj_dropout < 1))
        return problem("proj_dropout", why, n, "must be in [0, 1), got %g", (double)c->proj_dropout);
    /* The attention plugins get no dropout, so refuse rather than ignore it
     * (every official JiT config trains with attn_dropout 0). */
    if (c->attn_dropout != 0)
        return problem("attn_dropout", why, n,
                       "must be 0 (the attention plugins take no dropout, and every JiT config "
                       "uses 0; proj_dropout is supported), got %g", (double)c->attn_dropout);
    return NULL;
}

static pd_status validate(const pd_jit_config *c) {
    /* limits.h first: the rules below compute with these sizes */
    pd_status s = pd_limits_check_jit(c);
    if (s) return s;
    char why[320];
    const char *key = pd_jit_config_problem(c, why, sizeof why);
    return key ? pd_fail(PD_ERR_CONFIG, "jit: [model] %s %s", key, why) : PD_OK;
}

/* Registers one parameter, naming it "<prefix><name>"; NULL on error. */
static pd_tensor *add(pd_params *p, const char *prefix, const char *name, unsigned flags, int ndim, ...) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    int shape[PD_MAX_DIMS];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) shape[i] = va_arg(ap, int);
    va_end(ap);
    return pd_params_add(p, full, shape, ndim, flags);
}

static pd_status register_params(pd_jit *m) {
    const pd_jit_config *c = &m->cfg;
    pd_params *p = m->params;
    int D = c->hidden_size, L = c->in_context_len;
    /* The order follows model_jit.py's state_dict. */
    m->t_w0 = add(p, "", "t_embedder.mlp.0.weight", 0, 2, D, 256);
    m->t_b0 = add(p, "", "t_embedder.mlp.0.bias", 0, 1, D);
    m->t_w2 = add(p, "", "t_embedder.mlp.2.weight", 0, 2, D, D);
    m->t_b2 = add(p, "", "t_embedder.mlp.2.bias", 0, 1, D);
    m->y_table = add(p, "", "y_embedder.embedding_table.weight", 0, 2, c->num_classes + 1, D);
    m->proj1_w = add(p, "", "x_embedder.proj1.weight", 0, 4, c->bottleneck_dim, c->channels,
                     c->patch_size, c->patch_size);
    m->proj2_w = add(p, "", "x_embedder.proj2.weight", 0, 4, D, c->bottleneck_dim, 1, 1);
    m->proj2_b = add(p, "", "x_embedder.proj2.bias", 0, 1, D);
    m->pos_embed = add(p, "", "pos_embed", PD_PARAM_FROZEN, 3, 1, m->N, D);
    if (L > 0) m->ctx_posemb = add(p, "", "in_context_posemb", 0, 3, 1, L, D);
    /* Every registration is checked through the count: a failed one
     * (out of memory; the message is set) registers nothing. */
    int want = 9 + (L > 0);
    if (pd_params_count(p) != want) return PD_ERR_NOMEM;
    for (int i = 0; i < c->depth; i++) {
        jit_block *b = &m->blocks[i];
        char pre[48];
        snprintf(pre, sizeof pre, "blocks.%d.", i);
        b->norm1 = add(p, pre, "norm1.weight", 0, 1, D);
        b->q_norm = add(p, pre, "attn.q_norm.weight", 0, 1, m->hd);
        b->k_norm = add(p, pre, "attn.k_norm.weight", 0, 1, m->hd);
        b->qkv_w = add(p, pre, "attn.qkv.weight", 0, 2, 3 * D, D);
        b->qkv_b = add(p, pre, "attn.qkv.bias", 0, 1, 3 * D);
        b->proj_w = add(p, pre, "attn.proj.weight", 0, 2, D, D);
        b->proj_b = add(p, pre, "attn.proj.bias", 0, 1, D);
        b->norm2 = add(p, pre, "norm2.weight", 0, 1, D);
        b->w12_w = add(p, pre, "mlp.w12.weight", 0, 2, 2 * m->mlp_hidden, D);
        b->w12_b = add(p, pre, "mlp.w12.bias", 0, 1, 2 * m->mlp_hidden);
        b->w3_w = add(p, pre, "mlp.w3.weight", 0, 2, D, m->mlp_hidden);
        b->w3_b = add(p, pre, "mlp.w3.bias", 0, 1, D);
        b->ada_w = add(p, pre, "adaLN_modulation.1.weight", 0, 2, 6 * D, D);
        b->ada_b = add(p, pre, "adaLN_modulation.1.bias", 0, 1, 6 * D);
        if (pd_params_count(p) != (want += 14)) return PD_ERR_NOMEM;
        /* model_jit.py: depth // 4 * 3 > i >= depth // 4 (not 3 * depth // 4: they
         * differ when depth is not a multiple of 4) */
        b->dropout = i >= c->depth / 4 && i < c->depth / 4 * 3;
    }
    return PD_OK;
}

static pd_status check_kind(const pd_plugin *pl, pd_plugin_kind kind, const char *slot) {
    if (!pl || pd_plugin_get_kind(pl) != kind)
        return pd_fail(PD_ERR_PLUGIN, "jit: the %s slot needs a %s plugin, got %s", slot, slot,
                       pl ? pd_plugin_kind_name(pd_plugin_get_kind(pl)) : "none");
    return PD_OK;
}

pd_status pd_jit_create(const pd_jit_config *cfg, const pd_jit_plugins *plugins, pd_jit **out) {
    *out = NULL;
    pd_status s = validate(cfg);
    if (s) return s;
    if (!plugins) return pd_fail(PD_ERR_ARG, "jit: plugins are required (decoder, attention)");
    if ((s = check_kind(plugins->decoder, PD_PLUGIN_DECODER, "decoder"))) return s;
    if ((s = check_kind(plugins->attention, PD_PLUGIN_ATTENTION, "attention"))) return s;
    pd_jit *m = calloc(1, sizeof *m);
    if (!m) return pd_fail(PD_ERR_NOMEM, "jit: out of memory");
    m->cfg = *cfg;
    m->grid = cfg->image_size / cfg->patch_size;
    m->N = m->grid * m->grid;
    m->hd = cfg->hidden_size / cfg->num_heads;
    m->mlp_hidden = pd_jit_mlp_hidden(cfg);
    m->info = (pd_model_info){sizeof(pd_model_info), cfg->image_size, cfg->channels, cfg->patch_size,
                              m->grid, m->N, cfg->hidden_size, cfg->num_heads, m->hd, cfg->depth,
                              cfg->num_classes, cfg->t_eps, cfg->noise_scale};
    m->params = pd_params_new();
    m->blocks = calloc((size_t)cfg->depth, sizeof *m->blocks);
    if (!m->params || !m->blocks) {
        pd_jit_free(m);
        return pd_fail(PD_ERR_NOMEM, "jit: out of memory");
    }
    if ((s = register_params(m))) goto fail;
    /* VisionRotaryEmbeddingFast(dim = head_dim / 2, pt_seq_len = grid):
     * rotates the whole head dim, theta 10000. */
    if ((s = pd_rope_table_init_2d(&m->rope, m->grid, m->grid, m->hd, 0, 10000.0f))) goto fail;
    if ((s = pd_rope_table_init_2d(&m->rope_ctx, m->grid, m->grid, m->hd, cfg->in_context_len,
                                   10000.0f)))
        goto fail;
    /* The host wrappers scope the decoder's parameter names and check what
     * create did. */
    if ((s = pd_plugin_create_decoder(plugins->decoder, &m->info, plugins->decoder_cfg, m->params,
                                      &m->dec_state)))
        goto fail;
    m->dec = pd_plugin_decoder_vtable(plugins->decoder);
    m->dec_pl = plugins->decoder;
    if ((s = pd_plugin_create_attention(plugins->attention, &m->info, plugins->attention_cfg,
                                        &m->attn_state)))
        goto fail;
    m->attn = pd_plugin_attention_vtable(plugins->attention);
    m->attn_pl = plugins->attention;
    *out = m;
    return PD_OK;
fail:
    if (!*pd_last_error()) pd_fail(s, "jit: creation failed");
    pd_jit_free(m);
    return s;
}

void pd_jit_free(pd_jit *m) {
    if (!m) return;
    if (m->dec) m->dec->destroy(m->dec_state);
    if (m->attn) m->attn->destroy(m->attn_state);
    pd_rope_table_free(&m->rope);
    pd_rope_table_free(&m->rope_ctx);
    pd_params_free(m->params);
    free(m->blocks);
    free(m);
}

pd_params *pd_jit_params(pd_jit *m) { return m->params; }
const pd_jit_config *pd_jit_get_config(const pd_jit *m) { return &m->cfg; }
const pd_model_info *pd_jit_info(const pd_jit *m) { return &m->info; }

/* ---- initialisation (model_jit.py initialize_weights) ------------------------ */

static void xavier(pd_rng *r, pd_tensor *w, int fan_out, int fan_in) {
    float bound = sqrtf(6.0f / (float)(fan_in + fan_out));
    pd_rng_fill_uniform(r, w->data, w->numel, -bound, bound);
}

static void fill(pd_tensor *t, float v) {
    for (size_t i = 0; i < t->numel; i++) t->data[i] = v;
}

pd_status pd_jit_init_weights(pd_jit *m, uint64_t seed) {
    const pd_jit_config *c = &m->cfg;
    int D = c->hidden_size, P2C = c->channels * c->patch_size * c->patch_size;
    pd_rng r;
    pd_rng_seed(&r, seed);
    for (int i = 0; i < pd_params_count(m->params); i++) memset(pd_params_at(m->params, i)->data, 0, pd_params_at(m->params, i)->numel * sizeof(float));
    pd_jit_sincos_pos_embed(m->pos_embed->data, m->grid, D);
    xavier(&r, m->proj1_w, c->bottleneck_dim, P2C);
    xavier(&r, m->proj2_w, D, c->bottleneck_dim);
    pd_rng_fill_normal(&r, m->y_table->data, m->y_table->numel, 0.0f, 0.02f);
    if (m->ctx_posemb) pd_rng_fill_normal(&r, m->ctx_posemb->data, m->ctx_posemb->numel, 0.0f, 0.02f);
    pd_rng_fill_normal(&r, m->t_w0->data, m->t_w0->numel, 0.0f, 0.02f);
    pd_rng_fill_normal(&r, m->t_w2->data, m->t_w2->numel, 0.0f, 0.02f);
    for (int i = 0; i < c->depth; i++) {
        jit_block *b = &m->blocks[i];
        fill(b->norm1, 1.0f);
        fill(b->norm2, 1.0f);
        fill(b->q_norm, 1.0f);
        fill(b->k_norm, 1.0f);
        xavier(&r, b->qkv_w, 3 * D, D);
        xavier(&r, b->proj_w, D, D);
        xavier(&r, b->w12_w, 2 * m->mlp_hidden, D);
        xavier(&r, b->w3_w, D, m->mlp_hidden);
        /* adaLN_modulation stays zero: every block starts as the identity. */
    }
    return m->dec->init_weights(m->dec_state, &r);
}

/* ---- forward ------------------------------------------------------------------- */

/* One JiT block: adaLN-Zero around attention and SwiGLU. x (B, n, D), c_act
 * = SiLU(c) (B, D). */
static pd_tensor *block_forward(pd_jit *m, pd_ctx *ctx, const jit_block *b, pd_tensor *x,
                                pd_tensor *c_act, const pd_rope_table *rope, pd_rng *rng) {
    const pd_jit_config *c = &m->cfg;
    int B = x->shape[0], n = x->shape[1], D = c->hidden_size, H = c->num_heads, hd = m->hd;
    bool drop = b->dropout && pd_ctx_training(ctx);
    pd_tensor *mod = pd_linear(ctx, c_act, b->ada_w, b->ada_b); /* (B, 6D) */
    pd_tensor *shift_msa = pd_slice(ctx, mod, 1, 0 * D, D), *scale_msa = pd_slice(ctx, mod, 1, 1 * D, D);
    pd_tensor *gate_msa = pd_slice(ctx, mod, 1, 2 * D, D), *shift_mlp = pd_slice(ctx, mod, 1, 3 * D, D);
    pd_tensor *scale_mlp = pd_slice(ctx, mod, 1, 4 * D, D), *gate_mlp = pd_slice(ctx, mod, 1, 5 * D, D);

    /* attention: fused kernels, or the composed ops they are tested against */
    bool fused = pd_ctx_fused(ctx);
    pd_tensor *h = fused ? pd_rmsnorm_modulate(ctx, x, b->norm1, shift_msa, scale_msa, RMS_EPS)
                         : pd_modulate(ctx, pd_rmsnorm(ctx, x, b->norm1, RMS_EPS), shift_msa, scale_msa);
    pd_tensor *qkv = pd_linear(ctx, h, b->qkv_w, b->qkv_b);          /* (B, n, 3D) */
    if (fused) {
        qkv = pd_qkv_heads(ctx, qkv, H, b->q_norm, b->k_norm, RMS_EPS, rope); /* (3, B, H, n, hd) */
    } else {
        qkv = pd_reshape(ctx, qkv, (int[]){B, n, 3, H, hd}, 5);
        qkv = pd_permute(ctx, qkv, (int[]){2, 0, 3, 1, 4});            /* (3, B, H, n, hd) */
    }
    pd_tensor *q = pd_reshape(ctx, pd_slice(ctx, qkv, 0, 0, 1), (int[]){B, H, n, hd}, 4);
    pd_tensor *k = pd_reshape(ctx, pd_slice(ctx, qkv, 0, 1, 1), (int[]){B, H, n, hd}, 4);
    pd_tensor *v = pd_reshape(ctx, pd_slice(ctx, qkv, 0, 2, 1), (int[]){B, H, n, hd}, 4);
    if (!fused) {
        q = pd_rope(ctx, pd_rmsnorm(ctx, q, b->q_norm, RMS_EPS), rope);
        k = pd_rope(ctx, pd_rmsnorm(ctx, k, b->k_norm, RMS_EPS), rope);
    }
    if (pd_ctx_status(ctx)) return NULL;
    pd_tensor *o = pd_plugin_attention_forward(m->attn_pl, m->attn_state, ctx, q, k, v,
                                               1.0f / sqrtf((float)hd)); /* (B, H, n, hd) */
    o = pd_reshape(ctx, pd_permute(ctx, o, (int[]){0, 2, 1, 3}), (int[]){B, n, D}, 3);
    o = pd_linear(ctx, o, b->proj_w, b->proj_b);
    if (drop && c->proj_dropout > 0) o = pd_dropout(ctx, o, c->proj_dropout, rng);
    x = pd_gated_residual(ctx, x, gate_msa, o);

    /* SwiGLU MLP */
    h = fused ? pd_rmsnorm_modulate(ctx, x, b->norm2, shift_mlp, scale_mlp, RMS_EPS)
              : pd_modulate(ctx, pd_rmsnorm(ctx, x, b->norm2, RMS_EPS), shift_mlp, scale_mlp);
    pd_tensor *hid = pd_swiglu(ctx, pd_linear(ctx, h, b->w12_w, b->w12_b)); /* (B, n, hidden) */
    if (drop && c->proj_dropout > 0) hid = pd_dropout(ctx, hid, c->proj_dropout, rng);
    pd_tensor *mlp = pd_linear(ctx, hid, b->w3_w, b->w3_b);
    return pd_gated_residual(ctx, x, gate_mlp, mlp);
}

static pd_tensor *jit_forward(pd_jit *m, pd_ctx *ctx, pd_tensor *z, const float *t,
                              const int *labels, pd_rng *dropout_rng) {
    const pd_jit_config *c = &m->cfg;
    if (!z || pd_ctx_status(ctx)) return NULL;
    int B = z->shape[0], D = c->hidden_size, L = c->in_context_len;
    if (z->ndim != 4 || z->shape[1] != c->channels || z->shape[2] != c->image_size ||
        z->shape[3] != c->image_size) {
        char s[64];
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "jit: input %s, expected (B, %d, %d, %d)",
                    pd_shape_str(z, s, sizeof s), c->channels, c->image_size, c->image_size);
        return NULL;
    }
    for (int i = 0; i < B; i++)
        if (labels[i] < 0 || labels[i] > c->num_classes) {
            pd_ctx_fail(ctx, PD_ERR_ARG, "jit: label %d of sample %d outside 0..%d (%d = null)",
                        labels[i], i, c->num_classes, c->num_classes);
            return NULL;
        }

    /* conditioning: c = t_emb + y_emb */
    pd_tensor *tf = pd_tensor_empty(ctx, (int[]){B, 256}, 2);
    if (!tf) return NULL;
    pd_jit_timestep_features(tf->data, t, B);
    pd_tensor *t_emb = pd_linear(ctx, pd_silu(ctx, pd_linear(ctx, tf, m->t_w0, m->t_b0)), m->t_w2, m->t_b2);
    pd_tensor *y_emb = pd_embedding(ctx, m->y_table, labels, B);  /* (B, D) */
    pd_tensor *cond = pd_add(ctx, t_emb, y_emb);                  /* (B, D) */
    pd_tensor *c_act = pd_silu(ctx, cond);                        /* adaLN input */

    /* bottleneck patch embedding: conv p x p (no bias) then 1x1 conv, i.e.
     * two linears on unfold-order patches. */
    int P2C = c->channels * c->patch_size * c->patch_size;
    pd_tensor *w1 = pd_view(ctx, m->proj1_w, (int[]){c->bottleneck_dim, P2C}, 2);
    pd_tensor *w2 = pd_view(ctx, m->proj2_w, (int[]){D, c->bottleneck_dim}, 2);
    pd_tensor *x = pd_patchify(ctx, z, c->patch_size, PD_PATCH_UNFOLD); /* (B, N, C p p) */
    x = pd_linear(ctx, pd_linear(ctx, x, w1, NULL), w2, m->proj2_b);    /* (B, N, D) */
    x = pd_add(ctx, x, m->pos_embed);

    for (int i = 0; i < c->depth; i++) {
        if (L > 0 && i == c->in_context_start) {
            /* L copies of y_emb plus a learned per-slot embedding, prepended */
            pd_tensor *ict = pd_add(ctx, pd_reshape(ctx, y_emb, (int[]){B, 1, D}, 3), m->ctx_posemb);
            x = pd_concat(ctx, (pd_tensor *[]){ict, x}, 2, 1);         /* (B, L + N, D) */
        }
        const pd_rope_table *rope = (L > 0 && i >= c->in_context_start) ? &m->rope_ctx : &m->rope;
        x = block_forward(m, ctx, &m->blocks[i], x, c_act, rope, dropout_rng);
        if (!x) return NULL;
    }
    if (L > 0) x = pd_slice(ctx, x, 1, L, m->N);                       /* drop class tokens */
    if (pd_ctx_status(ctx)) return NULL;

    pd_tensor *tt = pd_tensor_from(ctx, t, (int[]){B}, 1);
    pd_decoder_inputs in = {
        .struct_size = sizeof in,
        .tokens = x,
        .t_emb = t_emb,
        .y_emb = y_emb,
        .c = cond,
        .t = tt,
        .z = z,
        /* the decoder shares the blocks' training stream (after their draws) */
        .rng = pd_ctx_training(ctx) ? dropout_rng : NULL,
    };
    return pd_plugin_decoder_forward(m->dec_pl, m->dec_state, ctx, &in); /* (B, C, H, W) */
}

/* The model's attention plugin is bound on ctx while its forward runs, so
 * a decoder that attends through the host's `attention` entry runs the
 * same kernel as the backbone (ctx_attention.h). */
pd_tensor *pd_jit_forward(pd_jit *m, pd_ctx *ctx, pd_tensor *z, const float *t, const int *labels,
                          pd_rng *dropout_rng) {
    if (!m || !ctx) return NULL;
    pd_attention_binding old =
        pd_ctx_bind_attention(ctx, (pd_attention_binding){m->attn->forward, m->attn_state});
    pd_tensor *x = jit_forward(m, ctx, z, t, labels, dropout_rng);
    pd_ctx_bind_attention(ctx, old);
    return x;
}

double pd_jit_flops_per_image(const pd_jit *m) {
    const pd_jit_config *c = &m->cfg;
    double D = c->hidden_size, N = m->N, L = c->in_context_len, hid = m->mlp_hidden;
    double P2C = (double)c->channels * c->patch_size * c->patch_size;
    double f = 2 * N * (P2C * c->bottleneck_dim + c->bottleneck_dim * D); /* patch embed */
    f += 2 * (256 * D + D * D);                                           /* t embedder */
    for (int i = 0; i < c->depth; i++) {
        double n = N + ((L > 0 && i >= c->in_context_start) ? L : 0);
        f += 2 * D * 6 * D;                          /* adaLN */
        f += 2 * n * D * (3 * D + D);                /* qkv, proj */
        /* q k^T and P v: the attention plugin's count when it gives one */
        if (m->attn->flops)
            f += m->attn->flops(m->attn_state, 1, c->num_heads, (int)n, (int)n, m->hd);
        else
            f += 2 * 2 * n * n * D;
        f += 2 * n * D * (2 * hid) + 2 * n * hid * D; /* w12, w3 */
    }
    if (m->dec->flops) f += m->dec->flops(m->dec_state);
    return f;
}
