/* MaxPool2d(kernel 2, stride 2), NCHW, floor on odd sizes. */

#include "op_util.h"

typedef struct {
    int planes, H, W, Ho, Wo; /* planes = B*C */
    int *argmax;              /* (planes, Ho, Wo) offset in the input plane; only when recording */
} maxpool_attr;

/* x (B, C, H, W) -> y (B, C, H/2, W/2). Window order (0,0) (0,1) (1,0) (1,1)
 * with a strict > keeps the first maximum, and NaN wins as in torch. */
static pd_status maxpool_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    maxpool_attr *a = attr;
    const float *x = in[0]->data;
    if (pd_ctx_recording(ctx)) {
        a->argmax = pd_ctx_alloc(ctx, y->numel * sizeof(int));
        if (!a->argmax) return PD_ERR_NOMEM;
    }
    int *arg = a->argmax;
    size_t per = (size_t)a->Ho * a->Wo;
    int W = a->W;
    /* planes on the threads (DiP's head pools many 4x4 and 8x8 planes); the
     * window is compared with selects, not branches: maxima fall at random,
     * and the branchy loop ran at ~20 cycles an output */
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (long pl = 0; pl < (long)a->planes; pl++) {
        const float *plane = x + (size_t)pl * a->H * W;
        float *yp = y->data + (size_t)pl * per;
        int *ap = arg ? arg + (size_t)pl * per : NULL;
        for (int oy = 0; oy < a->Ho; oy++) {
            const float *r0 = plane + (size_t)2 * oy * W, *r1 = r0 + W;
            for (int ox = 0; ox < a->Wo; ox++) {
                float v0 = r0[2 * ox], v1 = r0[2 * ox + 1], v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
                int i0 = 2 * oy * W + 2 * ox;
                /* take v when v > m, or v is NaN and m is not (v != v: NaN) */
                int t1 = (v1 > v0) | ((v1 != v1) & (v0 == v0));
                float m = t1 ? v1 : v0;
                int best = i0 + t1;
                int t2 = (v2 > m) | ((v2 != v2) & (m == m));
                m = t2 ? v2 : m;
                best = t2 ? i0 + W : best;
                int t3 = (v3 > m) | ((v3 != v3) & (m == m));
                m = t3 ? v3 : m;
                best = t3 ? i0 + W + 1 : best;
                yp[oy * a->Wo + ox] = m;
                if (ap) ap[oy * a->Wo + ox] = best;
            }
        }
    }
    return PD_OK;
}

/* dx[argmax] += dy; each window lies in one plane and windows do not overlap. */
static pd_status maxpool_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const maxpool_attr *a = attr;
    float *dx = in[0]->grad;
    if (!dx) return PD_OK;
    size_t per = (size_t)a->Ho * a->Wo;
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (int pl = 0; pl < a->planes; pl++) {
        float *d = dx + (size_t)pl * a->H * a->W;
        const float *dy = y->grad + pl * per;
        const int *arg = a->argmax + pl * per;
        for (size_t o = 0; o < per; o++) d[arg[o]] += dy[o];
    }
    return PD_OK;
}

static const pd_op_def maxpool_op = {"maxpool2x2", maxpool_fwd, maxpool_bwd};

pd_tensor *pd_maxpool2x2(pd_ctx *ctx, pd_tensor *x) {
    PD_OP_GUARD(ctx, x);
    if (x->ndim != 4 || x->shape[2] < 2 || x->shape[3] < 2) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "maxpool2x2: x %s must be (B, C, H, W) with H, W >= 2", SHP(x));
        return NULL;
    }
    maxpool_attr a = {x->shape[0] * x->shape[1], x->shape[2], x->shape[3], x->shape[2] / 2,
                      x->shape[3] / 2, NULL};
    int shape[4] = {x->shape[0], x->shape[1], a.Ho, a.Wo};
    return pd_op_apply(ctx, &maxpool_op, &x, 1, shape, 4, &a, sizeof a);
}
