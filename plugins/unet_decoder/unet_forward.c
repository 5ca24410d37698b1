/* Forward pass of the Patch Detailer Head. Every patch is an independent
 * image of a conv batch of M = B*N patches; the backbone token enters only
 * at the bottleneck (spec pixeldit_dip.md 2.1). Built from host ops only,
 * so autodiff records every step. */
#include <stdio.h>

#include "unet_decoder.h"

/* s = SiLU(t_emb + token), DiP's `s = silu(t_emb + s_N)`, as one (D, b, b)
 * map per patch: tokens (B, N, D), t_emb (B, D) -> (M, D, b, b). For b > 1
 * (fewer stages than log2(p), DiP-XL/32's 2x2 bottleneck) the vector is
 * repeated over the b x b grid by a broadcast multiply with ones. */
static pd_tensor *token_map(const unet_state *s, pd_ctx *ctx, const pd_decoder_inputs *in) {
    const pd_host_api *h = s->host;
    int B = in->tokens->shape[0], N = in->tokens->shape[1], D = s->plan.D;
    int b = unet_bottleneck_side(&s->plan);
    pd_tensor *te = h->reshape(ctx, in->t_emb, (int[]){B, 1, D}, 3);          /* (B, 1, D) */
    pd_tensor *sn = h->silu(ctx, h->add(ctx, in->tokens, te));                /* (B, N, D) */
    sn = h->reshape(ctx, sn, (int[]){B * N, D, 1, 1}, 4);                     /* (M, D, 1, 1) */
    if (b == 1 || !sn) return sn;
    pd_tensor *ones = h->tensor_empty(ctx, (int[]){1, 1, b, b}, 4);           /* (1, 1, b, b) */
    if (!ones) return NULL;
    for (size_t i = 0; i < ones->numel; i++) ones->data[i] = 1.0f;
    return h->mul(ctx, sn, ones);                                             /* (M, D, b, b) */
}

static pd_tensor *conv_silu(const pd_host_api *h, pd_ctx *ctx, pd_tensor *x, const unet_conv *cv,
                            int pad) {
    return h->silu(ctx, h->conv2d(ctx, x, cv->w, cv->b, 1, pad));
}

/* The U-Net on patches x (M, C, p, p) with token maps tok (M, D, b, b)
 * -> (M, C, p, p). */
static pd_tensor *unet_head(const unet_state *s, pd_ctx *ctx, pd_tensor *x, pd_tensor *tok) {
    const pd_host_api *h = s->host;
    int S = s->plan.stages;
    pd_tensor *skip[UNET_MAX_STAGES + 1];
    pd_tensor *f = x;
    for (int k = 1; k <= S; k++) {                    /* enc_k: (M, ch[k], side_k, side_k) */
        if (k > 1) f = h->maxpool2x2(ctx, f);
        skip[k] = f = conv_silu(h, ctx, f, &s->enc[k], 1);
    }
    f = h->maxpool2x2(ctx, f);                        /* (M, ch[S], b, b) */
    f = h->concat(ctx, (pd_tensor *[]){f, tok}, 2, 1); /* (M, ch[S] + D, b, b) */
    f = conv_silu(h, ctx, f, &s->bottleneck, 0);      /* (M, ch[S], b, b) */
    for (int k = S; k >= 1; k--) {
        pd_tensor *u = h->conv_transpose2x2(ctx, f, s->up[k].w, s->up[k].b); /* (M, ch[k], side_k^2) */
        f = h->concat(ctx, (pd_tensor *[]){u, skip[k]}, 2, 1);              /* (M, 2 ch[k], ...) */
        f = conv_silu(h, ctx, f, &s->dec[k], 1);                             /* (M, dec_out(k), ...) */
    }
    return h->conv2d(ctx, f, s->out.w, s->out.b, 1, 0); /* (M, C, p, p), no activation */
}

pd_tensor *unet_forward(const unet_state *s, pd_ctx *ctx, const pd_decoder_inputs *in) {
    const pd_host_api *h = s->host;
    const unet_plan *pl = &s->plan;
    if (!in->z || !in->tokens || !in->t_emb) return NULL;
    int B = in->z->shape[0], H = s->info.image_size, p = pl->p, C = pl->C, M = B * pl->N;
    if (in->tokens->ndim != 3 || in->tokens->shape[0] != B || in->tokens->shape[1] != pl->N ||
        in->tokens->shape[2] != pl->D) {
        char got[64];
        snprintf(got, sizeof got, "(%d dims)", in->tokens->ndim);
        if (in->tokens->ndim == 3)
            snprintf(got, sizeof got, "(%d, %d, %d)", in->tokens->shape[0], in->tokens->shape[1],
                     in->tokens->shape[2]);
        h->ctx_fail(ctx, PD_ERR_SHAPE, "unet_decoder: tokens %s, expected (%d, %d, %d) for z of batch %d",
                    got, B, pl->N, pl->D, B);
        return NULL;
    }
    pd_tensor *x = h->patchify(ctx, in->z, p, PD_PATCH_UNFOLD);   /* (B, N, C*p*p) */
    x = h->reshape(ctx, x, (int[]){M, C, p, p}, 4);                /* (M, C, p, p) */
    pd_tensor *y = unet_head(s, ctx, x, token_map(s, ctx, in));    /* (M, C, p, p) */
    y = h->reshape(ctx, y, (int[]){B, pl->N, C * p * p}, 3);       /* (B, N, C*p*p) */
    y = h->unpatchify(ctx, y, C, H, H, p, PD_PATCH_UNFOLD);        /* (B, C, H, W) */
    if (s->mode == UNET_RESIDUAL) /* + JiT's FinalLayer (B, C, H, W) */
        y = h->add(ctx, pd_jit_head_forward(h, ctx, &s->fl, &s->info, in->tokens, in->c), y);
    return y;
}
