/* One training step on a batch in memory: noise, forward, loss, backward,
 * [all-reduce], AdamW, two EMAs. Shared by the training loop and the
 * benchmark. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train_step.h"

#include "pixeldit/parity.h"

/* After the first backward: a decoder none of whose trainable parameters
 * got any gradient cannot learn (its output does not depend on them, e.g.
 * it returns z). A warning, not an error: a decoder may freeze on purpose. */
static void warn_unreached_decoder(const pd_session *s) {
    char names[256];
    int trainable = 0;
    int zero = pd_params_zero_grads(pd_jit_params(s->model), pd_plugin_param_prefix(s->decoder),
                                    names, sizeof names, &trainable);
    if (trainable && zero == trainable && pd_dist_rank() == 0)
        fprintf(stderr, "pixeldit: warning: decoder plugin %s: no gradient reached any of its %d "
                "trainable parameters at step 1 (%s): its output does not depend on them\n",
                pd_plugin_name(s->decoder), trainable, names);
}

/* Forward, losses and backward on this process's samples. */
static pd_status local_grads(const pd_step_parts *p, const pd_step_buffers *buf, const float *x,
                             const int *labels, int B, long long step_no, float *loss_out,
                             float *parts) {
    const pd_config *cfg = &p->s->cfg;
    int C = cfg->model.channels, S = cfg->model.image_size;
    size_t per = (size_t)C * S * S;
    pd_diffusion_config dc = {(float)cfg->diffusion.P_mean, (float)cfg->diffusion.P_std,
                              (float)cfg->diffusion.noise_scale, (float)cfg->diffusion.t_eps,
                              (float)cfg->diffusion.label_drop_prob, cfg->model.num_classes};
    int first = p->shard ? p->shard->first : 0;
    pd_diffusion_noise_at(&dc, p->key, (uint64_t)step_no, first, x, B, per, labels, buf->t, buf->z,
                          buf->labels_dropped);

    pd_ctx *ctx = p->ctx;
    pd_ctx_reset(ctx);
    pd_ctx_set_training(ctx, true);
    int shape[4] = {B, C, S, S};
    /* x, z (B, C, H, W) */
    pd_tensor *xt = pd_tensor_from(ctx, x, shape, 4), *zt = pd_tensor_from(ctx, buf->z, shape, 4);
    pd_tensor *x_pred = pd_jit_forward(p->s->model, ctx, zt, buf->t, buf->labels_dropped, p->dropout_rng);
    pd_tensor *loss = pd_session_loss(p->s, ctx, x_pred, xt, zt, buf->t, buf->labels_dropped, parts);
    if (!loss && pd_ctx_status(ctx) == PD_ERR_NUMERIC) /* a plugin's non-finite output: when */
        return pd_fail(PD_ERR_NUMERIC, "%s, at step %lld", pd_ctx_error(ctx), step_no);
    if (!loss) return pd_fail(pd_ctx_status(ctx) ? pd_ctx_status(ctx) : PD_ERR_ARG, "%s", pd_ctx_error(ctx));
    *loss_out = loss->data[0];
    if (!isfinite(*loss_out))
        return pd_fail(PD_ERR_NUMERIC, "loss is %f at step %lld", (double)*loss_out, step_no);
    pd_params_zero_grad(pd_jit_params(p->s->model));
    pd_status s = pd_backward(ctx, loss);
    if (s) return pd_fail(s, "%s", pd_ctx_error(ctx));
    if (step_no == 1) warn_unreached_decoder(p->s);
    return PD_OK;
}

/* Scalars that ride in the gradient all-reduce, after the gradients. */
enum {
    SC_LOSS = 0,
    SC_PARTS = 1,                                          /* loss i, unweighted */
    SC_LOSS_PARTS = SC_PARTS + PD_SESSION_MAX_LOSSES,      /* each loss's named parts */
    SC_FAILED = SC_LOSS_PARTS + PD_SESSION_MAX_LOSSES * PD_LOSS_MAX_PARTS,
    SC_STOP,
    SC_TIME_UP,
    SC_COUNT
};
int pd_train_step_scalars(void) { return SC_COUNT; }

/* Sums the gradients (weighted by this rank's share of the global batch)
 * and the loss values over all ranks. Every rank takes part, failed or
 * not, so a failure on one rank is an error on all, never a hang. */
static pd_status reduce(const pd_step_parts *p, int B, long long step_no, pd_status local,
                        float *loss, float *parts) {
    pd_step_shard *sh = p->shard;
    pd_session *ss = p->s;
    float w = (float)B / (float)sh->global, sc[SC_COUNT] = {0};
    if (!local) {
        sc[SC_LOSS] = w * *loss;
        for (int i = 0; i < ss->n_losses && parts; i++) sc[SC_PARTS + i] = w * parts[i];
        for (int i = 0; i < ss->n_losses; i++)
            for (int j = 0; j < ss->loss_parts[i].n; j++)
                sc[SC_LOSS_PARTS + i * PD_LOSS_MAX_PARTS + j] = w * ss->loss_parts[i].value[j];
    }
    sc[SC_FAILED] = local != PD_OK;
    sc[SC_STOP] = sh->stop;
    sc[SC_TIME_UP] = sh->time_up;
    pd_status s = pd_grad_sync_run(sh->sync, pd_jit_params(ss->model), w, sc, SC_COUNT);
    if (s) return s;
    if (sc[SC_FAILED] > 0) pd_dist_mark_agreed();
    if (local) return local; /* its own message */
    if (sc[SC_FAILED] > 0)
        return pd_fail(PD_ERR_STATE, "rank %d: stopped at step %lld because another rank failed "
                       "(its message is above)", pd_dist_rank(), step_no);
    sh->stop = sc[SC_STOP] > 0;
    sh->time_up = sc[SC_TIME_UP] > 0;
    *loss = sc[SC_LOSS];
    for (int i = 0; i < ss->n_losses && parts; i++) parts[i] = sc[SC_PARTS + i];
    for (int i = 0; i < ss->n_losses; i++)
        for (int j = 0; j < ss->loss_parts[i].n; j++)
            ss->loss_parts[i].value[j] = sc[SC_LOSS_PARTS + i * PD_LOSS_MAX_PARTS + j];
    return PD_OK;
}

pd_status pd_train_step_batch(const pd_step_parts *p, const pd_step_buffers *buf, const float *x,
                              const int *labels, int B, float lr, long long step_no,
                              float *loss_out, float *parts) {
    const pd_config *cfg = &p->s->cfg;
    pd_status s = local_grads(p, buf, x, labels, B, step_no, loss_out, parts);
    if (p->shard && p->shard->sync) s = reduce(p, B, step_no, s, loss_out, parts);
    if (s) return s;
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
