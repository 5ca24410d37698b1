/* A loss plugin's inputs from a prediction, as training makes them. */
#include "train/loss_inputs.h"

#include "pixeldit/ops.h"
#include "pixeldit/train.h"

pd_status pd_loss_inputs_make(pd_ctx *ctx, pd_tensor *x_pred, pd_tensor *x, pd_tensor *z,
                              const float *t, const int *labels, float t_eps, pd_loss_inputs *in) {
    if (pd_ctx_status(ctx)) return pd_ctx_status(ctx);
    if (!x_pred || !x || !z || !t || x->ndim < 1)
        return pd_ctx_fail(ctx, PD_ERR_ARG, "loss inputs: a NULL or empty input");
    int B = x->shape[0];
    /* 1 / max(1 - t, t_eps) per sample, broadcast over (C, H, W) */
    pd_tensor *inv = pd_tensor_empty(ctx, (int[]){B, 1, 1, 1}, 4);
    pd_tensor *tt = pd_tensor_from(ctx, t, (int[]){B}, 1); /* (B,) */
    if (!inv || !tt) return pd_ctx_status(ctx) ? pd_ctx_status(ctx) : PD_ERR_NOMEM;
    for (int b = 0; b < B; b++) inv->data[b] = pd_diffusion_inv_denom(t[b], t_eps);
    /* v is a constant; computed with the same kernels as v_pred. */
    bool old = pd_ctx_set_grad_enabled(ctx, false);
    pd_tensor *v = pd_mul(ctx, pd_sub(ctx, x, z), inv);        /* (B, C, H, W) */
    pd_ctx_set_grad_enabled(ctx, old);
    pd_tensor *v_pred = pd_mul(ctx, pd_sub(ctx, x_pred, z), inv); /* (B, C, H, W) */
    *in = (pd_loss_inputs){.struct_size = sizeof *in, .x_pred = x_pred, .x = x, .z = z, .t = tt,
                           .v = v, .v_pred = v_pred, .labels = labels, .batch = B};
    return pd_ctx_status(ctx);
}
