/* The inputs a loss plugin sees, made from a prediction the way training
 * makes them: used by the session's loss (training, bench) and by the
 * parity check (pixeldit plugin-check), so both run one path. Internal. */
#ifndef PD_TRAIN_LOSS_INPUTS_H
#define PD_TRAIN_LOSS_INPUTS_H

#include "pixeldit/plugin.h"

/* x_pred, x, z (B, C, H, W), t (B) host floats, labels (B):
 *   v      = (x - z) / max(1 - t, t_eps)        a constant (no gradient)
 *   v_pred = (x_pred - z) / max(1 - t, t_eps)   differentiable in x_pred
 * Fills *in (struct_size, every member). Returns the ctx's status: on
 * failure the error is in ctx. */
pd_status pd_loss_inputs_make(pd_ctx *ctx, pd_tensor *x_pred, pd_tensor *x, pd_tensor *z,
                              const float *t, const int *labels, float t_eps, pd_loss_inputs *in);

#endif
