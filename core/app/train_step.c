/* The trainer's set-up (AdamW, EMAs, RNG streams, shard and gradient
 * sync, precision, batch buffers) and one step on a batch in memory:
 * noise, forward, loss, backward, [all-reduce], AdamW, two EMAs. Shared by
 * the training loop and the benchmark. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_step.h"

#include "pixeldit/dist.h"
#include "pixeldit/parity.h"

pd_status pd_trainer_open(pd_trainer *tr, pd_session *s, int global) {
    const pd_config *cfg = &s->cfg;
    memset(tr, 0, sizeof *tr);
    tr->s = s;
    tr->rank = pd_dist_rank(), tr->size = pd_dist_size();
    int first, count;
    pd_dist_shard(global, tr->rank, tr->size, &first, &count);
    tr->shard = (pd_step_shard){.global = global, .first = first, .count = count};
    pd_adamw_config ac = {(float)cfg->train.beta1, (float)cfg->train.beta2, (float)cfg->train.adam_eps,
                          (float)cfg->train.weight_decay, (float)cfg->train.grad_clip};
    pd_params *p = pd_jit_params(s->model);
    if (!(tr->opt = pd_adamw_new(p, &ac))) return PD_ERR_NOMEM;
    pd_status st;
    if (tr->size > 1) {
        if ((st = pd_grad_sync_open(&tr->sync, p, pd_train_step_scalars()))) return st;
        tr->shard.sync = &tr->sync;
    }
    pd_rng_seed(&tr->st.rng, (uint64_t)cfg->train.seed * 2 + 2);
    pd_rng_seed(&tr->st.dropout_rng, (uint64_t)cfg->train.seed * 2 + 3);
    tr->ema1 = pd_ema_new(p, (float)cfg->train.ema_decay1);
    tr->ema2 = pd_ema_new(p, (float)cfg->train.ema_decay2);
    if (!tr->ema1 || !tr->ema2) return PD_ERR_NOMEM;
    if (!(tr->ctx = pd_session_new_ctx(s))) return PD_ERR_NOMEM;
    /* training steps only: sampling and evaluation stay fp32 */
    if ((st = pd_ctx_set_precision(tr->ctx, cfg->train.precision))) return st;
    size_t per = (size_t)cfg->model.channels * cfg->model.image_size * cfg->model.image_size;
    tr->x = malloc((size_t)count * per * sizeof(float));
    tr->z = malloc((size_t)count * per * sizeof(float));
    tr->t = malloc((size_t)count * sizeof(float));
    tr->labels = malloc((size_t)count * sizeof(int));
    tr->labels_dropped = malloc((size_t)count * sizeof(int));
    tr->flip = malloc((size_t)count);
    tr->idx = malloc((size_t)global * sizeof(int));
    if (!tr->x || !tr->z || !tr->t || !tr->labels || !tr->labels_dropped || !tr->flip || !tr->idx)
        return pd_fail(PD_ERR_NOMEM, "train: out of memory for a batch of %d", count);
    return PD_OK;
}

pd_status pd_trainer_resume(pd_trainer *tr, const pd_st_file *f) {
    pd_checkpoint ck = {pd_jit_params(tr->s->model), tr->ema1, tr->ema2, tr->opt, NULL, NULL, {0}};
    pd_status st = pd_checkpoint_load_training(f, &ck);
    if (!st) tr->st = ck.state;
    return st;
}

void pd_trainer_close(pd_trainer *tr) {
    free(tr->x), free(tr->z), free(tr->t);
    free(tr->labels), free(tr->labels_dropped), free(tr->flip), free(tr->idx);
    pd_ctx_free(tr->ctx);
    pd_ema_free(tr->ema1);
    pd_ema_free(tr->ema2);
    pd_adamw_free(tr->opt);
    pd_grad_sync_close(&tr->sync);
    memset(tr, 0, sizeof *tr);
}

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
static pd_status local_grads(pd_trainer *tr, pd_rng *dropout_rng, long long step_no, float *loss_out,
                             float *parts) {
    const pd_config *cfg = &tr->s->cfg;
    int B = tr->shard.count;
    int C = cfg->model.channels, S = cfg->model.image_size;
    size_t per = (size_t)C * S * S;
    pd_diffusion_config dc = {(float)cfg->diffusion.P_mean, (float)cfg->diffusion.P_std,
                              (float)cfg->diffusion.noise_scale, (float)cfg->diffusion.t_eps,
                              (float)cfg->diffusion.label_drop_prob, cfg->model.num_classes};
    pd_diffusion_noise_at(&dc, &tr->st.rng, (uint64_t)step_no, tr->shard.first, tr->x, B, per, tr->labels,
                          tr->t, tr->z, tr->labels_dropped);

    pd_ctx *ctx = tr->ctx;
    pd_ctx_reset(ctx);
    pd_ctx_set_training(ctx, true);
    int shape[4] = {B, C, S, S};
    /* x, z (B, C, H, W) */
    pd_tensor *xt = pd_tensor_from(ctx, tr->x, shape, 4), *zt = pd_tensor_from(ctx, tr->z, shape, 4);
    pd_tensor *x_pred = pd_jit_forward(tr->s->model, ctx, zt, tr->t, tr->labels_dropped, dropout_rng);
    pd_tensor *loss = pd_session_loss(tr->s, ctx, x_pred, xt, zt, tr->t, tr->labels_dropped, parts);
    if (!loss && pd_ctx_status(ctx) == PD_ERR_NUMERIC) /* a plugin's non-finite output: when */
        return pd_fail(PD_ERR_NUMERIC, "%s, at step %lld", pd_ctx_error(ctx), step_no);
    if (!loss) return pd_fail(pd_ctx_status(ctx) ? pd_ctx_status(ctx) : PD_ERR_ARG, "%s", pd_ctx_error(ctx));
    *loss_out = loss->data[0];
    if (!isfinite(*loss_out))
        return pd_fail(PD_ERR_NUMERIC, "loss is %f at step %lld", (double)*loss_out, step_no);
    pd_params_zero_grad(pd_jit_params(tr->s->model));
    pd_status s = pd_backward(ctx, loss);
    if (s) return pd_fail(s, "%s", pd_ctx_error(ctx));
    if (step_no == 1) warn_unreached_decoder(tr->s);
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
static pd_status reduce(pd_trainer *tr, long long step_no, pd_status local, float *loss, float *parts) {
    pd_step_shard *sh = &tr->shard;
    pd_session *ss = tr->s;
    int B = sh->count;
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

pd_status pd_trainer_step(pd_trainer *tr, float lr, float *loss_out, float *parts) {
    const pd_config *cfg = &tr->s->cfg;
    long long step_no = (long long)tr->st.step + 1;
    /* Dropout masks are drawn over a rank's whole tensor, not per sample:
     * with several ranks each takes its own stream for the step (same
     * distribution as one process, not the same bits). */
    pd_rng rank_dropout, *dropout = &tr->st.dropout_rng;
    if (tr->size > 1) {
        pd_rng_derive(&rank_dropout, &tr->st.dropout_rng, (uint64_t)step_no, (uint64_t)tr->rank,
                      PD_RNG_STREAM_RANK);
        dropout = &rank_dropout;
    }
    pd_status s = local_grads(tr, dropout, step_no, loss_out, parts);
    if (tr->shard.sync) s = reduce(tr, step_no, s, loss_out, parts);
    if (s) return s;
    if ((s = pd_adamw_step(tr->opt, lr, NULL))) return s;
    /* Update t = step_no - 1 counts the steps before this one, so a resumed
     * run continues the warm-up exactly. */
    float d1 = pd_ema_decay(tr->ema1), d2 = pd_ema_decay(tr->ema2);
    if (cfg->train.ema_warmup) {
        double g = cfg->train.ema_warmup_gamma;
        d1 = pd_ema_warmup_decay(d1, g, step_no - 1), d2 = pd_ema_warmup_decay(d2, g, step_no - 1);
    }
    pd_ema_update_with(tr->ema1, d1);
    pd_ema_update_with(tr->ema2, d2);
    tr->st.step++;
    return PD_OK;
}
