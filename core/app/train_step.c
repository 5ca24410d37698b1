/* One training step on a batch in memory: noise, forward, loss, backward,
 * AdamW, two EMAs. Shared by the training loop and the benchmark. */
#include <math.h>

#include "train_step.h"

pd_status pd_train_step_batch(const pd_step_parts *p, const pd_step_buffers *buf, const float *x,
                              const int *labels, int B, float lr, long long step_no,
                              float *loss_out, float *parts) {
    const pd_config *cfg = &p->s->cfg;
    int C = cfg->model.channels, S = cfg->model.image_size;
    size_t per = (size_t)C * S * S;
    pd_diffusion_config dc = {(float)cfg->diffusion.P_mean, (float)cfg->diffusion.P_std,
                              (float)cfg->diffusion.noise_scale, (float)cfg->diffusion.t_eps,
                              (float)cfg->diffusion.label_drop_prob, cfg->model.num_classes};
    pd_diffusion_noise(&dc, p->rng, x, B, per, labels, buf->t, buf->z, buf->labels_dropped);

    pd_ctx *ctx = p->ctx;
    pd_ctx_reset(ctx);
    pd_ctx_set_training(ctx, true);
    int shape[4] = {B, C, S, S};
    /* x, z (B, C, H, W) */
    pd_tensor *xt = pd_tensor_from(ctx, x, shape, 4), *zt = pd_tensor_from(ctx, buf->z, shape, 4);
    pd_tensor *x_pred = pd_jit_forward(p->s->model, ctx, zt, buf->t, buf->labels_dropped, p->dropout_rng);
    pd_tensor *loss = pd_session_loss(p->s, ctx, x_pred, xt, zt, buf->t, buf->labels_dropped, parts);
    if (!loss) return pd_fail(pd_ctx_status(ctx) ? pd_ctx_status(ctx) : PD_ERR_ARG, "%s", pd_ctx_error(ctx));
    *loss_out = loss->data[0];
    if (!isfinite(*loss_out))
        return pd_fail(PD_ERR_NUMERIC, "loss is %f at step %lld", (double)*loss_out, step_no);
    pd_params_zero_grad(pd_jit_params(p->s->model));
    pd_status s = pd_backward(ctx, loss);
    if (s) return pd_fail(s, "%s", pd_ctx_error(ctx));
    if ((s = pd_adamw_step(p->opt, lr, NULL))) return s;
    /* Update t = step_no - 1 counts the steps before this one, so a resumed
     * run continues the warm-up exactly. */
    float d1 = pd_ema_decay(p->ema1), d2 = pd_ema_decay(p->ema2);
    if (cfg->train.ema_warmup) {
        double g = cfg->train.ema_warmup_gamma;
        d1 = pd_ema_warmup_decay(d1, g, step_no - 1), d2 = pd_ema_warmup_decay(d2, g, step_no - 1);
    }
    pd_ema_update_with(p->ema1, d1);
    pd_ema_update_with(p->ema2, d2);
    return PD_OK;
}
