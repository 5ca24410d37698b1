/* pixeldit/train.h - optimiser, EMA, learning-rate schedule, JiT diffusion
 * (noising, velocities) and the ODE samplers. */
#ifndef PIXELDIT_TRAIN_H
#define PIXELDIT_TRAIN_H

#include "pixeldit/config.h" /* pd_sampler_kind */
#include "pixeldit/jit.h"
#include "pixeldit/params.h"
#include "pixeldit/rng.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* ---- AdamW (torch.optim.AdamW semantics) --------------------------------- */

typedef struct pd_adamw_config {
    float beta1, beta2, eps, weight_decay;
    float grad_clip; /* max global grad norm; 0 = off */
} pd_adamw_config;

/* Owns the first and second moments of every trainable parameter. */
typedef struct pd_adamw pd_adamw;

pd_adamw *pd_adamw_new(pd_params *params, const pd_adamw_config *cfg);
void pd_adamw_free(pd_adamw *opt);
/* One update with learning rate lr; no weight decay on rank-1 tensors and
 * biases (pd_params_decays). Returns the global grad norm before clipping in
 * *grad_norm (may be NULL). Fails with PD_ERR_NUMERIC on a non-finite
 * gradient, before touching any parameter. */
pd_status pd_adamw_step(pd_adamw *opt, float lr, float *grad_norm);
int64_t pd_adamw_steps(const pd_adamw *opt);
void pd_adamw_set_steps(pd_adamw *opt, int64_t t);
/* Moments of parameter i (NULL for frozen ones): for checkpoints. */
float *pd_adamw_moment(pd_adamw *opt, int param_index, int which /* 1 = m, 2 = v */);

/* ---- EMA of all parameters ----------------------------------------------------- */

typedef struct pd_ema pd_ema;
/* Starts as a copy of the current parameters (JiT: no warm-up). */
pd_ema *pd_ema_new(pd_params *params, float decay);
void pd_ema_free(pd_ema *e);
/* ema = decay * ema + (1 - decay) * param, with this update's decay (the
 * constant one, or the warm-up's: pd_ema_warmup_decay). */
void pd_ema_update_with(pd_ema *e, float decay);
/* EMA warm-up ([train] ema_warmup, ema_warmup_gamma): the decay of update t
 * (0-based, t = optimizer steps done before it), min(decay, (1 + t) /
 * (gamma + t)); gamma = 10 is TensorFlow's ExponentialMovingAverage with
 * num_updates and timm's. Early on the EMA averages about the last
 * t / (gamma - 1) steps; the first update uses 1 / gamma, so the initial
 * weights are nearly gone after a few steps. gamma > 1. */
float pd_ema_warmup_decay(float decay, double gamma, long long t);
/* Share of the initial weights an EMA still holds after `steps` updates:
 * the product of their decays (gamma <= 1: no warm-up, constant decay). */
double pd_ema_initial_share(double decay, double gamma, long long steps);
float *pd_ema_data(pd_ema *e, int param_index);
float pd_ema_decay(const pd_ema *e);
/* Swaps EMA and live values (call twice to undo): sample with EMA weights. */
void pd_ema_swap(pd_ema *e);

/* ---- learning rate ------------------------------------------------------------------- */

/* Linear warm-up from 0 over warmup_steps (per iteration), then constant. */
float pd_lr_at(float base_lr, int64_t step, int64_t warmup_steps);

/* ---- JiT diffusion ----------------------------------------------------------------------- */

typedef struct pd_diffusion_config {
    float P_mean, P_std;     /* logit-normal t */
    float noise_scale;       /* e ~ N(0, noise_scale^2) */
    float t_eps;             /* clamp of 1 - t */
    float label_drop_prob;   /* CFG label drop while training */
    int num_classes;         /* null class id */
} pd_diffusion_config;

/* Draws t (B), noise and label drop for samples first .. first + B - 1 of
 * step `step` and forms z = t x + (1 - t) e, with x, z, e: (B, C, H, W) =
 * B * per_sample floats. Each sample draws from its own generator pd_rng_derive(key, step, first + b,
 * PD_RNG_STREAM_DIFFUSION) in the order t, label drop, noise: a sample's
 * t, noise and label drop depend on (key, step, its index in the global
 * batch) only, however the batch is split across processes. key is not
 * advanced. The trainer and `pixeldit bench` use this one. */
void pd_diffusion_noise_at(const pd_diffusion_config *cfg, const pd_rng *key, uint64_t step,
                           int64_t first, const float *x, int B, size_t per_sample,
                           const int *labels, float *t, float *z, int *labels_dropped);
/* 1 / max(1 - t, t_eps), the velocity scale, in float32 as torch. */
float pd_diffusion_inv_denom(float t, float t_eps);

/* ---- sampling ------------------------------------------------------------------------------ */

typedef struct pd_sample_config {
    pd_sampler_kind sampler;
    int steps;                /* steps of the time grid (steps + 1 points) */
    float cfg_scale;          /* 1 = no guidance */
    float cfg_low, cfg_high;  /* guidance only where low < t < high (low 0: t >= 0) */
    float t_eps;              /* velocity clamp of heun and euler */
    float noise_scale;
    /* Added last, so that positional initializers of the fields above still
     * mean JiT's grid: 0 = auto (pd_schedule_resolve). */
    pd_sample_schedule schedule;
    float P_mean, P_std;      /* the logit-normal schedule's ([diffusion]) */
    /* The products' precision while sampling (pd_sample_grid; the ctx's own
     * when calling pd_sample): fp32 (0) unless asked, whatever [train]
     * precision was; `pixeldit sample --precision`. */
    pd_precision precision;
} pd_sample_config;

/* Point i of torch.linspace(0, 1, n) in float32 (torch's symmetric formula). */
float pd_linspace01(int i, int n);

/* The time grid of cfg: steps + 1 increasing points from t[0] = 0 (noise)
 * to t[steps] = 1 (image), for cfg's schedule (auto resolved for cfg's
 * sampler). uniform is pd_linspace01, bit for bit. */
pd_status pd_sample_time_grid(const pd_sample_config *cfg, float *t);

/* Progress callback: called after each step (may be NULL). */
typedef void (*pd_sample_progress_fn)(int step, int total, void *user);

/* Samples B images: z0 = noise_scale * N(0, 1) from rng, then cfg->steps
 * steps of cfg->sampler on the time grid (heun: steps-1 Heun steps and a
 * final Euler step, as JiT), with CFG (cond and uncond in one batch of 2B
 * when guidance is on). out: (B, C, H, W), the final z. Runs with grad mode
 * off in ctx (reset between network evaluations). Equations:
 * docs/sampling.md. */
pd_status pd_sample(pd_jit *model, pd_ctx *ctx, const pd_sample_config *cfg, const int *labels,
                    int B, pd_rng *rng, float *out, pd_sample_progress_fn progress, void *user);

/* Starts from a given z0 instead of drawing it (for parity tests). */
pd_status pd_sample_from(pd_jit *model, pd_ctx *ctx, const pd_sample_config *cfg, const int *labels,
                         int B, float *z_inout, pd_sample_progress_fn progress, void *user);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
