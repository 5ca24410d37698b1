/* Resampling, NCHW: bilinear resize (B, C, H, W) -> (B, C, out_h, out_w)
 * with the index and weight rules of torch's F.interpolate(mode='bilinear')
 * on CPU, so that ported checkpoints reproduce torch outputs; and nearest
 * up-sampling by integer factors. */
#include <limits.h>

#include "op_util.h"
#include "tape.h"

/* Source taps of one output coordinate: value = w0 * in[i0] + w1 * in[i1]. */
typedef struct {
    int i0, i1;
    float w0, w1;
} lerp_tap;

typedef struct {
    int planes, H, W, Ho, Wo;  /* planes = B*C */
    const lerp_tap *ty, *tx;   /* (Ho), (Wo) in the arena */
} upsample_attr;

/* torch's area_pixel_compute_scale / _source_index, float like torch's
 * opmath for float32 (the +0.5 is formed in double there too). */
static void lerp_taps(lerp_tap *t, int in, int out, bool align_corners) {
    float scale = align_corners ? (out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f)
                                : (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        if (in == out) { /* torch copies exactly when the size is unchanged */
            t[o] = (lerp_tap){o, o, 1.0f, 0.0f};
            continue;
        }
        float src = align_corners ? scale * (float)o : (float)(scale * (o + 0.5) - 0.5);
        if (src < 0) src = 0; /* only reachable without align_corners */
        int i0 = (int)src;
        int i1 = i0 + (i0 < in - 1 ? 1 : 0);
        float l1 = src - (float)i0;
        l1 = l1 < 0 ? 0 : (l1 > 1 ? 1 : l1);
        t[o] = (lerp_tap){i0, i1, 1.0f - l1, l1};
    }
}

static pd_status upsample_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const upsample_attr *a = attr;
    const float *x = in[0]->data;
    long rows = (long)a->planes * a->Ho;
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        const lerp_tap *ty = &a->ty[r % a->Ho];
        const float *plane = x + (size_t)(r / a->Ho) * a->H * a->W;
        const float *r0 = plane + (size_t)ty->i0 * a->W, *r1 = plane + (size_t)ty->i1 * a->W;
        float *out = y->data + (size_t)r * a->Wo;
        for (int ox = 0; ox < a->Wo; ox++) {
            const lerp_tap *tx = &a->tx[ox];
            out[ox] = ty->w0 * (tx->w0 * r0[tx->i0] + tx->w1 * r0[tx->i1]) +
                      ty->w1 * (tx->w0 * r1[tx->i0] + tx->w1 * r1[tx->i1]);
        }
    }
    return PD_OK;
}

/* Scatter of dy with the same four weights; threads own whole planes. */
static pd_status upsample_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const upsample_attr *a = attr;
    float *dx = in[0]->grad;
    if (!dx) return PD_OK;
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (int pl = 0; pl < a->planes; pl++) {
        float *plane = dx + (size_t)pl * a->H * a->W;
        for (int oy = 0; oy < a->Ho; oy++) {
            const lerp_tap *ty = &a->ty[oy];
            float *r0 = plane + (size_t)ty->i0 * a->W, *r1 = plane + (size_t)ty->i1 * a->W;
            const float *dy = y->grad + ((size_t)pl * a->Ho + oy) * a->Wo;
            for (int ox = 0; ox < a->Wo; ox++) {
                const lerp_tap *tx = &a->tx[ox];
                float g0 = ty->w0 * dy[ox], g1 = ty->w1 * dy[ox];
                r0[tx->i0] += tx->w0 * g0;
                r0[tx->i1] += tx->w1 * g0;
                r1[tx->i0] += tx->w0 * g1;
                r1[tx->i1] += tx->w1 * g1;
            }
        }
    }
    return PD_OK;
}

static const pd_op_def upsample_op = {"upsample_bilinear", upsample_fwd, upsample_bwd};

pd_tensor *pd_upsample_bilinear(pd_ctx *ctx, pd_tensor *x, int out_h, int out_w, bool align_corners) {
    PD_OP_GUARD(ctx, x);
    if (x->ndim != 4) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "upsample_bilinear: x %s must be (B, C, H, W)", SHP(x));
        return NULL;
    }
    if (out_h <= 0 || out_w <= 0) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "upsample_bilinear: output size %dx%d must be positive (x %s)",
                    out_h, out_w, SHP(x));
        return NULL;
    }
    lerp_tap *ty = pd_ctx_alloc(ctx, (size_t)(out_h + out_w) * sizeof *ty);
    if (!ty) return NULL;
    lerp_tap *tx = ty + out_h;
    lerp_taps(ty, x->shape[2], out_h, align_corners);
    lerp_taps(tx, x->shape[3], out_w, align_corners);
    upsample_attr a = {x->shape[0] * x->shape[1], x->shape[2], x->shape[3], out_h, out_w, ty, tx};
    int shape[4] = {x->shape[0], x->shape[1], out_h, out_w};
    return pd_op_apply(ctx, &upsample_op, &x, 1, shape, 4, &a, sizeof a);
}

/* ---- nearest, integer factors ------------------------------------------------
 * x (B, C, H, W) -> y (B, C, H*fh, W*fw), y[.., i, j] = x[.., i/fh, j/fw]:
 * torch's F.interpolate(mode='nearest') at an integer scale. Backward sums
 * each fh x fw block of dy into one dx entry, writing every entry once. */

typedef struct {
    int planes, H, W, fh, fw; /* planes = B*C */
} nearest_attr;

static pd_status nearest_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const nearest_attr *a = attr;
    int Wo = a->W * a->fw;
    long rows = (long)a->planes * a->H * a->fh; /* output rows */
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        long src_row = r / a->fh; /* plane * H + i / fh */
        const float *restrict src = in[0]->data + (size_t)src_row * a->W;
        float *restrict out = y->data + (size_t)r * Wo;
        for (int j = 0; j < Wo; j++) out[j] = src[j / a->fw];
    }
    return PD_OK;
}

static pd_status nearest_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const nearest_attr *a = attr;
    float *dx = in[0]->grad;
    if (!dx) return PD_OK;
    bool unset = pd_grad_unset(in[0]);
    int Wo = a->W * a->fw;
    long rows = (long)a->planes * a->H; /* input rows */
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        const float *dy = y->grad + (size_t)r * a->fh * Wo;
        float *d = dx + (size_t)r * a->W;
        for (int j = 0; j < a->W; j++) {
            float s = 0.0f;
            for (int u = 0; u < a->fh; u++)
                for (int v = 0; v < a->fw; v++) s += dy[(size_t)u * Wo + (size_t)j * a->fw + v];
            d[j] = pd_grad_acc(unset, d[j], s);
        }
    }
    return PD_OK;
}

static const pd_op_def nearest_op = {"upsample_nearest", nearest_fwd, nearest_bwd};

pd_tensor *pd_upsample_nearest(pd_ctx *ctx, pd_tensor *x, int fh, int fw) {
    PD_OP_GUARD(ctx, x);
    if (x->ndim != 4) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "upsample_nearest: x %s must be (B, C, H, W)", SHP(x));
        return NULL;
    }
    if (fh < 1 || fw < 1 || (long long)x->shape[2] * fh > INT_MAX ||
        (long long)x->shape[3] * fw > INT_MAX) {
        pd_ctx_fail(ctx, PD_ERR_ARG,
                    "upsample_nearest: factors %d x %d on x %s: expected integers >= 1", fh, fw,
                    SHP(x));
        return NULL;
    }
    nearest_attr a = {x->shape[0] * x->shape[1], x->shape[2], x->shape[3], fh, fw};
    int shape[4] = {x->shape[0], x->shape[1], x->shape[2] * fh, x->shape[3] * fw};
    return pd_op_apply_flags(ctx, &nearest_op, PD_OPF_GRAD_OVERWRITE, &x, 1, shape, 4, &a,
                             sizeof a);
}
