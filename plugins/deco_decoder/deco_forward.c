/* Forward pass of the DeCo pixel decoder (spec deco.md 2), built from host
 * ops so autodiff records every step. All per-pixel work is done on one
 * (R, w) matrix, R = B*H*W rows (deco_decoder.h gives the row order): each
 * Linear is one sgemm over the whole batch, never one per patch.
 *
 * The official NerfEmbedder concatenates [rgb (C) ; dct (F*F)] per pixel
 * and applies Linear(C + F*F, w). The DCT part depends only on the pixel's
 * place in its patch, so here the weight is split by columns: rgb @ W[:, :C]^T
 * runs per pixel and dct @ W[:, C:]^T + b once per patch position (p*p rows),
 * then is broadcast-added. Same maths, no (R, F*F) concat. */
#include <stdio.h>
#include <string.h>

#include "deco_decoder.h"

/* True when t has shape want[0 .. ndim); else fails ctx with both shapes. */
static bool check_shape(const pd_host_api *h, pd_ctx *ctx, const char *what, const pd_tensor *t,
                        const int *want, int ndim) {
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want[i];
    if (ok) return true;
    char got[80] = "(", exp[80] = "(";
    for (int i = 0; i < t->ndim; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i ? ", " : "", t->shape[i]);
    for (int i = 0; i < ndim; i++)
        snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%d", i ? ", " : "", want[i]);
    h->ctx_fail(ctx, PD_ERR_SHAPE, "deco_decoder: %s %s), expected %s)", what, got, exp);
    return false;
}

/* The per-pixel condition y = cond_embed(SiLU(t_emb + token)) (R, w):
 * tokens (B, N, D), t_emb (B, D). DeCo's "linear up-sampling": pixel q of
 * a patch gets its own w-vector, columns q*w .. q*w + w - 1. */
static pd_tensor *pixel_condition(const deco_state *s, pd_ctx *ctx, const pd_decoder_inputs *in,
                                  int R) {
    const pd_host_api *h = s->host;
    int B = in->tokens->shape[0], D = s->info.hidden_size;
    pd_tensor *te = h->reshape(ctx, in->t_emb, (int[]){B, 1, D}, 3);   /* (B, 1, D) */
    pd_tensor *c = h->silu(ctx, h->add(ctx, in->tokens, te));          /* (B, N, D) */
    c = h->linear(ctx, c, s->cond_w, s->cond_b);                       /* (B, N, p*p*w) */
    return h->reshape(ctx, c, (int[]){R, s->width}, 2);               /* (R, w) */
}

/* x_embedder then input_proj, the paper's W_in: z (B, C, H, W) -> (R, w). */
static pd_tensor *pixel_input(const deco_state *s, pd_ctx *ctx, pd_tensor *z, int R) {
    const pd_host_api *h = s->host;
    int C = s->info.channels, p = s->info.patch_size, w = s->width, F2 = s->max_freqs * s->max_freqs;
    pd_tensor *rgb = h->patchify(ctx, z, p, PD_PATCH_JIT);             /* (B, N, p*p*C) */
    rgb = h->reshape(ctx, rgb, (int[]){R, C}, 2);                      /* (R, C) */
    pd_tensor *w_rgb = h->slice(ctx, s->emb_w, 1, 0, C);               /* (w, C) */
    pd_tensor *w_dct = h->slice(ctx, s->emb_w, 1, C, F2);              /* (w, F*F) */
    pd_tensor *dct = h->tensor_from(ctx, s->dct, (int[]){p * p, F2}, 2); /* (p*p, F*F) */
    pd_tensor *pos = h->linear(ctx, dct, w_dct, s->emb_b);             /* (p*p, w) */
    pd_tensor *x = h->linear(ctx, rgb, w_rgb, NULL);                   /* (R, w) */
    x = h->reshape(ctx, x, (int[]){R / (p * p), p * p, w}, 3);         /* (B*N, p*p, w) */
    x = h->reshape(ctx, h->add(ctx, x, pos), (int[]){R, w}, 2);        /* (R, w) */
    return h->linear(ctx, x, s->in_w, s->in_b);                        /* (R, w) */
}

/* Chunk i (0 shift, 1 scale, 2 gate) of adaLN_modulation(y).chunk(3): the
 * Linear(w, 3w) run as three Linear(w, w) on row blocks of its weight.
 * Slicing the (3w, w) weight costs nothing; slicing a (R, 3w) output would
 * copy 3 (R, w) matrices forward and backward. */
static pd_tensor *ada_chunk(const pd_host_api *h, pd_ctx *ctx, const deco_block *bk, pd_tensor *ys,
                            int i, int w) {
    pd_tensor *wi = h->slice(ctx, bk->ada_w, 0, i * w, w);             /* (w, w) */
    pd_tensor *bi = h->slice(ctx, bk->ada_b, 0, i * w, w);             /* (w) */
    return h->linear(ctx, ys, wi, bi);                                 /* (R, w) */
}

/* ResBlock: x + gate * MLP(modulate(LN(x), shift, scale)); ys = SiLU(y)
 * (the adaLN's SiLU, shared by all blocks). x, ys (R, w). */
static pd_tensor *res_block(const deco_state *s, pd_ctx *ctx, const deco_block *bk, pd_tensor *x,
                            pd_tensor *ys) {
    const pd_host_api *h = s->host;
    int w = s->width;
    pd_tensor *shift = ada_chunk(h, ctx, bk, ys, 0, w);                /* (R, w) each */
    pd_tensor *scale = ada_chunk(h, ctx, bk, ys, 1, w);
    pd_tensor *gate = ada_chunk(h, ctx, bk, ys, 2, w);
    pd_tensor *t = h->layernorm_modulate(ctx, x, bk->ln_w, bk->ln_b, shift, scale, DECO_LN_EPS); /* (R, w) */
    t = h->linear(ctx, h->silu(ctx, h->linear(ctx, t, bk->fc1_w, bk->fc1_b)), bk->fc2_w, bk->fc2_b);
    return h->gated_residual(ctx, x, gate, t);                         /* (R, w) */
}

pd_tensor *deco_forward(const deco_state *s, pd_ctx *ctx, const pd_decoder_inputs *in) {
    const pd_host_api *h = s->host;
    if (!in->z || !in->tokens || !in->t_emb) {
        h->ctx_fail(ctx, PD_ERR_ARG, "deco_decoder: needs z, tokens and t_emb");
        return NULL;
    }
    const pd_model_info *m = &s->info;
    int B = in->z->shape[0], C = m->channels, H = m->image_size, D = m->hidden_size;
    if (!check_shape(h, ctx, "z", in->z, (int[]){B, C, H, H}, 4) ||
        !check_shape(h, ctx, "tokens", in->tokens, (int[]){B, m->num_tokens, D}, 3) ||
        !check_shape(h, ctx, "t_emb", in->t_emb, (int[]){B, D}, 2))
        return NULL;
    int R = B * H * H;
    pd_tensor *ys = h->silu(ctx, pixel_condition(s, ctx, in, R));      /* (R, w) */
    pd_tensor *x = pixel_input(s, ctx, in->z, R);                      /* (R, w) */
    for (int j = 0; j < s->depth; j++) x = res_block(s, ctx, &s->blocks[j], x, ys);
    x = h->layernorm(ctx, x, NULL, NULL, DECO_LN_EPS);                 /* non-affine */
    x = h->linear(ctx, x, s->out_w, s->out_b);                         /* (R, C) */
    x = h->reshape(ctx, x, (int[]){B, m->num_tokens, m->patch_size * m->patch_size * C}, 3);
    return h->unpatchify(ctx, x, C, H, H, m->patch_size, PD_PATCH_JIT); /* (B, C, H, W) */
}

double deco_flops(const deco_state *s) {
    const pd_model_info *m = &s->info;
    double P = (double)m->image_size * m->image_size, w = s->width, C = m->channels;
    double pp = (double)m->patch_size * m->patch_size, F2 = (double)s->max_freqs * s->max_freqs;
    double f = 2.0 * m->num_tokens * m->hidden_size * pp * w; /* cond_embed */
    f += 2.0 * P * C * w + 2.0 * pp * F2 * w;                 /* x_embedder: rgb per pixel, dct per position */
    f += 2.0 * P * w * w;                                     /* input_proj */
    f += s->depth * (2.0 * P * w * 3 * w + 2 * 2.0 * P * w * w); /* adaLN + MLP per block */
    f += 2.0 * P * w * C;                                     /* final linear */
    return f;
}
