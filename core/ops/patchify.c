/* Patchify / unpatchify between images (B, C, H, W) and patch tokens
 * (B, (H/p)*(W/p), p*p*C), tokens row-major over the (H/p, W/p) grid. The two
 * are the same bijection run in opposite directions, so one mover serves
 * both forwards and both backwards. */
#include "op_util.h"

typedef struct {
    int B, C, H, W, p;
    int layout; /* pd_patch_layout */
} patch_attr;

/* Copies (or, with accumulate, adds) between an image buffer img (B, C, H, W)
 * and a token buffer tok (B, N, F). to_tokens picks the direction. */
static void patch_move(const patch_attr *a, float *img, float *tok, bool to_tokens, bool accumulate) {
    int p = a->p, C = a->C, H = a->H, W = a->W, gw_n = W / p;
    size_t F = (size_t)p * p * C, N = (size_t)(H / p) * gw_n;
    long rows = (long)a->B * C * H; /* one image row (b, c, y) per iteration */
#pragma omp parallel for if ((size_t)rows * W > PD_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        int y = (int)(r % H), c = (int)((r / H) % C), b = (int)(r / ((long)H * C));
        int gh = y / p, py = y % p;
        float *irow = img + (size_t)r * W;
        float *tbase = tok + (size_t)b * N * F;
        for (int x = 0; x < W; x++) {
            int gw = x / p, px = x % p;
            size_t feat = a->layout == PD_PATCH_JIT ? ((size_t)py * p + px) * C + c
                                                    : (size_t)c * p * p + (size_t)py * p + px;
            float *t = tbase + ((size_t)gh * gw_n + gw) * F + feat;
            if (to_tokens) {
                if (accumulate) *t += irow[x];
                else *t = irow[x];
            } else {
                if (accumulate) irow[x] += *t;
                else irow[x] = *t;
            }
        }
    }
}

/* img (B, C, H, W) -> out tokens (B, N, F). */
static pd_status patchify_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    patch_move(attr, in[0]->data, out->data, true, false);
    return PD_OK;
}

/* dimg += dtokens, moved back to image positions. */
static pd_status patchify_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    if (in[0]->grad) patch_move(attr, in[0]->grad, out->grad, false, true);
    return PD_OK;
}

/* tokens (B, N, F) -> out img (B, C, H, W). */
static pd_status unpatchify_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    patch_move(attr, out->data, in[0]->data, false, false);
    return PD_OK;
}

/* dtokens += dimg, moved to token positions. */
static pd_status unpatchify_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    if (in[0]->grad) patch_move(attr, out->grad, in[0]->grad, true, true);
    return PD_OK;
}

static const pd_op_def patchify_op = {"patchify", patchify_fwd, patchify_bwd};
static const pd_op_def unpatchify_op = {"unpatchify", unpatchify_fwd, unpatchify_bwd};

static bool layout_ok(pd_ctx *ctx, const char *op, pd_patch_layout layout) {
    if (layout == PD_PATCH_JIT || layout == PD_PATCH_UNFOLD) return true;
    pd_ctx_fail(ctx, PD_ERR_ARG, "%s: unknown patch layout %d (expected PD_PATCH_JIT or PD_PATCH_UNFOLD)",
                op, (int)layout);
    return false;
}

pd_tensor *pd_patchify(pd_ctx *ctx, pd_tensor *img, int p, pd_patch_layout layout) {
    PD_OP_GUARD(ctx, img);
    if (!layout_ok(ctx, "patchify", layout)) return NULL;
    if (img->ndim != 4 || p <= 0 || img->shape[2] % p || img->shape[3] % p) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "patchify: img %s must be (B, C, H, W) with H and W divisible by patch %d", SHP(img), p);
        return NULL;
    }
    patch_attr at = {img->shape[0], img->shape[1], img->shape[2], img->shape[3], p, (int)layout};
    int shape[3] = {at.B, (at.H / p) * (at.W / p), p * p * at.C};
    return pd_op_apply(ctx, &patchify_op, &img, 1, shape, 3, &at, sizeof at);
}

pd_tensor *pd_unpatchify(pd_ctx *ctx, pd_tensor *tokens, int C, int H, int W, int p,
                         pd_patch_layout layout) {
    PD_OP_GUARD(ctx, tokens);
    if (!layout_ok(ctx, "unpatchify", layout)) return NULL;
    if (C <= 0 || H <= 0 || W <= 0 || p <= 0 || H % p || W % p) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "unpatchify: image C %d, H %d, W %d: H and W must be positive and divisible by patch %d",
                    C, H, W, p);
        return NULL;
    }
    if (tokens->ndim != 3 || tokens->shape[1] != (H / p) * (W / p) || tokens->shape[2] != p * p * C) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "unpatchify: tokens %s, expected (B, %d, %d) for C %d, H %d, W %d, p %d",
                    SHP(tokens), (H / p) * (W / p), p * p * C, C, H, W, p);
        return NULL;
    }
    patch_attr at = {tokens->shape[0], C, H, W, p, (int)layout};
    int shape[4] = {at.B, C, H, W};
    return pd_op_apply(ctx, &unpatchify_op, &tokens, 1, shape, 4, &at, sizeof at);
}
