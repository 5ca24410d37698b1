/* Forward pass of the pixel pathway (spec pixeldit_dip.md 1.1, 1.3, 1.9),
 * built from host ops only, so autodiff records every step. The pixel
 * stream is (B*L, P, Dp): every per-pixel layer (embedding, RMSNorm,
 * modulation, MLP, final linear) is one op over all B*H*W pixels, and the
 * patch-level layers (AdaLN projection, compaction, attention, expansion)
 * run over all B*L patches. */
#include <math.h>
#include <stdio.h>

#include "pixeldit_decoder.h"

#define RMS_EPS 1e-6f

static pd_tensor *lin(const pd_host_api *h, pd_ctx *ctx, pd_tensor *x, const pxd_linear *l) {
    return h->linear(ctx, x, l->w, l->b);
}

/* Pixel tokens: Linear(C -> Dp) of every pixel of z, plus the abs-PE.
 * z (B, C, H, W) -> (B*L, P, Dp). */
static pd_tensor *embed_pixels(const pxd_state *s, pd_ctx *ctx, pd_tensor *z) {
    const pd_host_api *h = s->host;
    const pxd_plan *pl = &s->plan;
    int B = z->shape[0];
    pd_tensor *x = h->patchify(ctx, z, pl->p, PD_PATCH_JIT);                /* (B, L, P*C), channel fastest */
    x = h->reshape(ctx, x, (int[]){B, pl->L * pl->P, pl->C}, 3);            /* (B, L*P, C) */
    x = lin(h, ctx, x, &s->embed);                                          /* (B, L*P, Dp) */
    if (s->abs_pe) {
        pd_tensor *pe = h->tensor_from(ctx, s->abs_pe, (int[]){pl->L * pl->P, pl->Dp}, 2);
        x = h->add(ctx, x, pe);                                             /* (B, L*P, Dp) */
    }
    return h->reshape(ctx, x, (int[]){B * pl->L, pl->P, pl->Dp}, 3);
}

/* Multi-head self-attention over the compacted tokens, through the model's
 * attention plugin: qk-RMSNorm, no qkv bias, 2D RoPE on the patch grid,
 * output projection with bias. x (B, L, Da) -> (B, L, Da). */
static pd_tensor *attention(const pxd_state *s, pd_ctx *ctx, const pxd_block *b, pd_tensor *x) {
    const pd_host_api *h = s->host;
    const pxd_plan *pl = &s->plan;
    int B = x->shape[0], L = pl->L, nh = pl->heads, hd = pl->hd;
    pd_tensor *qkv = lin(h, ctx, x, &b->qkv);                               /* (B, L, 3 Da) */
    qkv = h->reshape(ctx, qkv, (int[]){B, L, 3, nh, hd}, 5);
    qkv = h->permute(ctx, qkv, (int[]){2, 0, 3, 1, 4});                    /* (3, B, nh, L, hd) */
    int head_shape[4] = {B, nh, L, hd};
    pd_tensor *q = h->reshape(ctx, h->slice(ctx, qkv, 0, 0, 1), head_shape, 4); /* (B, nh, L, hd) */
    pd_tensor *k = h->reshape(ctx, h->slice(ctx, qkv, 0, 1, 1), head_shape, 4);
    pd_tensor *v = h->reshape(ctx, h->slice(ctx, qkv, 0, 2, 1), head_shape, 4);
    q = h->rope(ctx, h->rmsnorm(ctx, q, b->q_norm, RMS_EPS), &s->rope);
    k = h->rope(ctx, h->rmsnorm(ctx, k, b->k_norm, RMS_EPS), &s->rope);
    pd_tensor *o = h->attention(ctx, q, k, v, 1.0f / sqrtf((float)hd));     /* (B, nh, L, hd) */
    o = h->permute(ctx, o, (int[]){0, 2, 1, 3});                           /* (B, L, nh, hd) */
    o = h->reshape(ctx, o, (int[]){B, L, pl->Da}, 3);
    return lin(h, ctx, o, &b->proj);                                        /* (B, L, Da) */
}

/* Compaction -> attention -> expansion: h (B*L, P, Dp) -> (B*L, P, Dp). */
static pd_tensor *compact_attend_expand(const pxd_state *s, pd_ctx *ctx, const pxd_block *b,
                                        pd_tensor *x) {
    const pd_host_api *h = s->host;
    const pxd_plan *pl = &s->plan;
    int BL = x->shape[0], B = BL / pl->L;
    pd_tensor *t = h->reshape(ctx, x, (int[]){B, pl->L, pl->P * pl->Dp}, 3); /* (B, L, P*Dp) */
    t = lin(h, ctx, t, &b->compress);                                       /* (B, L, Da) */
    t = attention(s, ctx, b, t);                                            /* (B, L, Da) */
    t = lin(h, ctx, t, &b->expand);                                         /* (B, L, P*Dp) */
    return h->reshape(ctx, t, (int[]){BL, pl->P, pl->Dp}, 3);
}

/* Per-pixel MLP Dp -> hidden -> Dp with exact GELU: (B*L, P, Dp). */
static pd_tensor *pixel_mlp(const pd_host_api *h, pd_ctx *ctx, const pxd_block *b, pd_tensor *x) {
    return lin(h, ctx, h->gelu(ctx, lin(h, ctx, x, &b->fc1), false), &b->fc2);
}

/* Chunk i of the pixel-wise adaLN projection theta = ada(s_cond), viewed
 * (B*L, P, n_mod, Dp) as the code's chunk(n_mod, dim=-1) of (B*L, P,
 * n_mod*Dp): the rows of the (P*n_mod*Dp, D) weight and the bias entries
 * that make chunk i are sliced (P*Dp*D floats, a copy of the weight, not of
 * the (B*L, P*n_mod*Dp) activation) and one linear makes it. Slicing the
 * output instead copied n_mod activation-sized tensors forward and
 * backward (2% of a small-pixeldit step). s_cond (B*L, D) -> (B*L, P, Dp). */
static pd_tensor *ada_chunk(const pxd_state *s, pd_ctx *ctx, const pxd_block *b, pd_tensor *s_cond,
                            int i, int BL) {
    const pd_host_api *h = s->host;
    const pxd_plan *pl = &s->plan;
    int P = pl->P, Dp = pl->Dp, nm = pl->n_mod, D = pl->D;
    pd_tensor *w = h->reshape(ctx, b->ada.w, (int[]){P, nm, Dp, D}, 4);    /* (P, n_mod, Dp, D) */
    w = h->reshape(ctx, h->slice(ctx, w, 1, i, 1), (int[]){P * Dp, D}, 2); /* (P*Dp, D) */
    pd_tensor *bias = h->reshape(ctx, b->ada.b, (int[]){P, nm, Dp}, 3);    /* (P, n_mod, Dp) */
    bias = h->reshape(ctx, h->slice(ctx, bias, 1, i, 1), (int[]){P * Dp}, 1);
    pd_tensor *m = h->linear(ctx, s_cond, w, bias);                         /* (B*L, P*Dp) */
    return h->reshape(ctx, m, (int[]){BL, P, Dp}, 3);
}

/* One PiT block: x (B*L, P, Dp), s_cond (B*L, D) -> (B*L, P, Dp).
 * Pre-modulation chunks (shift1, scale1, gate1, shift2, scale2, gate2),
 * post-modulation (scale1, shift1, scale2, shift2), each (B*L, P, Dp):
 * every pixel has its own. */
static pd_tensor *pit_block(const pxd_state *s, pd_ctx *ctx, const pxd_block *b, pd_tensor *x,
                            pd_tensor *s_cond) {
    const pd_host_api *h = s->host;
    const pxd_plan *pl = &s->plan;
    int BL = x->shape[0];
    pd_tensor *m[6];
    for (int i = 0; i < pl->n_mod; i++) m[i] = ada_chunk(s, ctx, b, s_cond, i, BL); /* (B*L, P, Dp) */
    if (!pl->post_mod) {
        pd_tensor *a = h->rmsnorm_modulate(ctx, x, b->norm1, m[0], m[1], RMS_EPS);
        x = h->gated_residual(ctx, x, m[2], compact_attend_expand(s, ctx, b, a));
        pd_tensor *f = h->rmsnorm_modulate(ctx, x, b->norm2, m[3], m[4], RMS_EPS);
        return h->gated_residual(ctx, x, m[5], pixel_mlp(h, ctx, b, f));
    }
    pd_tensor *a = compact_attend_expand(s, ctx, b, h->rmsnorm(ctx, x, b->norm1, RMS_EPS));
    x = h->add(ctx, x, h->modulate(ctx, a, m[1], m[0]));
    pd_tensor *f = pixel_mlp(h, ctx, b, h->rmsnorm(ctx, x, b->norm2, RMS_EPS));
    return h->add(ctx, x, h->modulate(ctx, f, m[3], m[2]));
}

static bool check_inputs(const pxd_state *s, pd_ctx *ctx, const pd_decoder_inputs *in) {
    const pxd_plan *pl = &s->plan;
    const pd_tensor *z = in->z, *tok = in->tokens, *te = in->t_emb;
    int B = z->ndim == 4 ? z->shape[0] : -1;
    if (z->ndim != 4 || z->shape[1] != pl->C || z->shape[2] != pl->H || z->shape[3] != pl->H) {
        s->host->ctx_fail(ctx, PD_ERR_SHAPE, "pixeldit_decoder: z has %d dims (first %d), "
                          "expected (B, %d, %d, %d)", z->ndim, z->ndim ? z->shape[0] : 0, pl->C,
                          pl->H, pl->H);
        return false;
    }
    if (tok->ndim != 3 || tok->shape[0] != B || tok->shape[1] != pl->L || tok->shape[2] != pl->D ||
        te->ndim != 2 || te->shape[0] != B || te->shape[1] != pl->D) {
        char got[96];
        snprintf(got, sizeof got, "tokens %d dims, t_emb %d dims", tok->ndim, te->ndim);
        if (tok->ndim == 3 && te->ndim == 2)
            snprintf(got, sizeof got, "tokens (%d, %d, %d), t_emb (%d, %d)", tok->shape[0],
                     tok->shape[1], tok->shape[2], te->shape[0], te->shape[1]);
        s->host->ctx_fail(ctx, PD_ERR_SHAPE, "pixeldit_decoder: %s, expected (%d, %d, %d) and "
                          "(%d, %d) for z of batch %d", got, B, pl->L, pl->D, B, pl->D, B);
        return false;
    }
    return true;
}

pd_tensor *pxd_forward(const pxd_state *s, pd_ctx *ctx, const pd_decoder_inputs *in) {
    const pd_host_api *h = s->host;
    const pxd_plan *pl = &s->plan;
    if (!in->z || !in->tokens || !in->t_emb) return NULL;
    if (!check_inputs(s, ctx, in)) return NULL;
    int B = in->z->shape[0];
    /* s_cond = SiLU(t_emb + s_N), one per patch (the code's, not the paper's s_N + t) */
    pd_tensor *te = h->reshape(ctx, in->t_emb, (int[]){B, 1, pl->D}, 3);   /* (B, 1, D) */
    pd_tensor *s_cond = h->silu(ctx, h->add(ctx, in->tokens, te));          /* (B, L, D) */
    s_cond = h->reshape(ctx, s_cond, (int[]){B * pl->L, pl->D}, 2);        /* (B*L, D) */

    pd_tensor *x = embed_pixels(s, ctx, in->z);                             /* (B*L, P, Dp) */
    for (int i = 0; i < pl->depth; i++) x = pit_block(s, ctx, &s->blocks[i], x, s_cond);
    x = lin(h, ctx, h->rmsnorm(ctx, x, s->final_norm, RMS_EPS), &s->final); /* (B*L, P, C) */
    x = h->reshape(ctx, x, (int[]){B, pl->L, pl->P * pl->C}, 3);           /* (B, L, P*C) */
    return h->unpatchify(ctx, x, pl->C, pl->H, pl->H, pl->p, PD_PATCH_JIT); /* (B, C, H, W) */
}
