/* Pixel shuffle and unshuffle (torch.nn.PixelShuffle / PixelUnshuffle):
 * a pure permutation between a "deep" tensor (B, C*r*r, H, W) and a
 * "wide" one (B, C, H*r, W*r):
 *     wide[b, c, h*r + i, w*r + j] = deep[b, (c*r + i)*r + j, h, w].
 * Shuffle copies deep -> wide, unshuffle wide -> deep; each backward is the
 * other direction. Every entry is written exactly once, so backward may
 * store into an unset gradient (PD_OPF_GRAD_OVERWRITE). */
#include <limits.h>

#include "op_util.h"
#include "tape.h"

typedef struct {
    int B, C, H, W, r; /* C, H, W of the deep side's (C*r*r, H, W) */
} shuffle_attr;

/* to_wide: wide (=/+=) deep, else deep (=/+=) wide; acc adds unless unset.
 * Threads own rows of the wide tensor, which map to distinct deep entries. */
static void shuffle_copy(const shuffle_attr *a, float *wide, float *deep, bool to_wide, bool unset) {
    int r = a->r, Hr = a->H * r, Wr = a->W * r;
    long rows = (long)a->B * a->C * Hr;
#pragma omp parallel for if ((size_t)rows * Wr > PD_PAR_MIN)
    for (long row = 0; row < rows; row++) {
        int y = (int)(row % Hr);
        long bc = row / Hr; /* b * C + c */
        int i = y % r, h = y / r;
        float *wr = wide + (size_t)row * Wr;
        /* deep channel (c*r + i)*r + j of sample b: bc*r*r + i*r + j */
        float *dp = deep + (((size_t)bc * r * r + (size_t)i * r) * a->H + h) * a->W;
        size_t plane = (size_t)a->H * a->W;
        for (int x = 0; x < Wr; x++) {
            float *d = dp + (size_t)(x % r) * plane + x / r;
            if (to_wide) wr[x] = pd_grad_acc(unset, wr[x], *d);
            else *d = pd_grad_acc(unset, *d, wr[x]);
        }
    }
}

static pd_status shuffle_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    shuffle_copy(attr, y->data, in[0]->data, true, true);
    return PD_OK;
}

static pd_status shuffle_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    if (in[0]->grad) shuffle_copy(attr, y->grad, in[0]->grad, false, pd_grad_unset(in[0]));
    return PD_OK;
}

static pd_status unshuffle_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    shuffle_copy(attr, in[0]->data, y->data, false, true);
    return PD_OK;
}

static pd_status unshuffle_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    if (in[0]->grad) shuffle_copy(attr, in[0]->grad, y->grad, true, pd_grad_unset(in[0]));
    return PD_OK;
}

static const pd_op_def shuffle_op = {"pixel_shuffle", shuffle_fwd, shuffle_bwd};
static const pd_op_def unshuffle_op = {"pixel_unshuffle", unshuffle_fwd, unshuffle_bwd};

/* x (B, C*r*r, H, W) -> (B, C, H*r, W*r). */
pd_tensor *pd_pixel_shuffle(pd_ctx *ctx, pd_tensor *x, int r) {
    PD_OP_GUARD(ctx, x);
    if (x->ndim != 4 || r < 1 || r > 46340 || x->shape[1] % (r * r)) { /* r*r fits int */
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "pixel_shuffle: x %s with factor %d: expected (B, C*%d*%d, H, W), factor >= 1",
                    SHP(x), r, r, r);
        return NULL;
    }
    shuffle_attr a = {x->shape[0], x->shape[1] / (r * r), x->shape[2], x->shape[3], r};
    int shape[4] = {a.B, a.C, a.H * r, a.W * r};
    return pd_op_apply_flags(ctx, &shuffle_op, PD_OPF_GRAD_OVERWRITE, &x, 1, shape, 4, &a,
                             sizeof a);
}

/* x (B, C, H*r, W*r) -> (B, C*r*r, H, W). */
pd_tensor *pd_pixel_unshuffle(pd_ctx *ctx, pd_tensor *x, int r) {
    PD_OP_GUARD(ctx, x);
    if (x->ndim != 4 || r < 1 || x->shape[2] % r || x->shape[3] % r ||
        (long long)x->shape[1] * r * r > INT_MAX) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "pixel_unshuffle: x %s with factor %d: expected (B, C, H*%d, W*%d), factor >= 1",
                    SHP(x), r, r, r);
        return NULL;
    }
    shuffle_attr a = {x->shape[0], x->shape[1], x->shape[2] / r, x->shape[3] / r, r};
    int shape[4] = {a.B, a.C * r * r, a.H, a.W};
    return pd_op_apply_flags(ctx, &unshuffle_op, PD_OPF_GRAD_OVERWRITE, &x, 1, shape, 4, &a,
                             sizeof a);
}
