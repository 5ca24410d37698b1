/* freq_loss reference path: DeCo's computation spelled with host ops, so
 * autodiff supplies the backward. It follows the PyTorch code step by step
 * (YCbCr, F.pad reflect right/bottom, unfold into 8x8 blocks, Cmat @ X @
 * Cmat^T, weighted mean) and shares nothing with freq_fused.c but the
 * tables, which makes it the check on the fused op. Slower: it materialises
 * every intermediate. */
#include "freq_loss.h"

/* x (..., n, ...) along axis -> (..., padded(n), ...), F.pad mode='reflect'
 * on the far side: appends x[n-2], x[n-3], ..., one slice per entry. */
static pd_tensor *reflect_pad(const pd_host_api *h, pd_ctx *ctx, pd_tensor *x, int axis) {
    if (!x) return NULL;
    int n = x->shape[axis], pad = freq_padded(n) - n;
    if (pad == 0) return x;
    pd_tensor *parts[FREQ_BLOCK];
    parts[0] = x;
    for (int p = 1; p <= pad; p++) parts[p] = h->slice(ctx, x, axis, n - 1 - p, 1);
    return h->concat(ctx, parts, pad + 1, axis);
}

pd_tensor *freq_loss_composed(const freq_loss *s, pd_ctx *ctx, pd_tensor *v_pred, pd_tensor *v) {
    const pd_host_api *h = s->host;
    int B = v_pred->shape[0], C = v_pred->shape[1];
    int Hb = freq_padded(v_pred->shape[2]) / FREQ_BLOCK, Wb = freq_padded(v_pred->shape[3]) / FREQ_BLOCK;

    pd_tensor *d = h->sub(ctx, v_pred, v); /* (B, C, H, W), linearity: T(a) - T(b) = T(a - b) */
    if (C == 3) {
        /* channel mix as a linear over a channels-last view */
        pd_tensor *m = h->tensor_from(ctx, &s->ycbcr[0][0], (int[]){3, 3}, 2);
        pd_tensor *last = h->permute(ctx, d, (int[]){0, 2, 3, 1});   /* (B, H, W, 3) RGB */
        pd_tensor *ycc = h->linear(ctx, last, m, NULL);               /* (B, H, W, 3) YCbCr */
        d = h->permute(ctx, ycc, (int[]){0, 3, 1, 2});                /* (B, 3, H, W) */
    }
    d = reflect_pad(h, ctx, reflect_pad(h, ctx, d, 3), 2);          /* (B, C, Hp, Wp) */
    /* blocks[b, c, i, j, m, n] = d[b, c, 8i + m, 8j + n] (x.unfold(2,8,8).unfold(3,8,8)) */
    pd_tensor *x = h->reshape(ctx, d, (int[]){B, C, Hb, FREQ_BLOCK, Wb, FREQ_BLOCK}, 6);
    x = h->permute(ctx, x, (int[]){0, 1, 2, 4, 3, 5});              /* (B, C, Hb, Wb, 8, 8) [m][n] */

    pd_tensor *cm = h->tensor_from(ctx, s->dct, (int[]){FREQ_BLOCK, FREQ_BLOCK}, 2); /* C[k][n] */
    pd_tensor *xc = h->matmul(ctx, x, cm, PD_TRANS_B);              /* X C^T: [m][v] */
    xc = h->permute(ctx, xc, (int[]){0, 1, 2, 3, 5, 4});            /* [v][m] */
    pd_tensor *ft = h->matmul(ctx, xc, cm, PD_TRANS_B);             /* (X C^T)^T C^T = F^T: [v][u] */

    /* weights laid out like F^T: wt[k, 0, 0, v, u] = w[k][u][v], (C, 1, 1, 8, 8) */
    float wt[3 * FREQ_BLOCK_AREA];
    for (int k = 0; k < C; k++)
        for (int u = 0; u < FREQ_BLOCK; u++)
            for (int v2 = 0; v2 < FREQ_BLOCK; v2++)
                wt[k * FREQ_BLOCK_AREA + v2 * FREQ_BLOCK + u] = s->w[k][u * FREQ_BLOCK + v2];
    pd_tensor *w = h->tensor_from(ctx, wt, (int[]){C, 1, 1, FREQ_BLOCK, FREQ_BLOCK}, 5);
    pd_tensor *sq = h->mul(ctx, ft, ft);                             /* (B, C, Hb, Wb, 8, 8) */
    return h->mean(ctx, h->mul(ctx, sq, w));                         /* () */
}
