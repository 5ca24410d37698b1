/* sampler_internal.h - the samplers below pd_sample: a network seen as a
 * function, guidance, and the ODE solvers on a given time grid. The tests
 * drive them with closed-form "networks" (tests/unit/test_sampler.c). */
#ifndef PD_SAMPLER_INTERNAL_H
#define PD_SAMPLER_INTERNAL_H

#include <stddef.h>

#include "pixeldit/train.h"

/* The network: x_hat (n, per) = D(z (n, per), t, labels (n)), the data
 * prediction of n images at one time t; n = B (cond) or 2B (cond, then the
 * same z with the null label). */
typedef pd_status (*pd_denoise_fn)(void *user, const float *z, float t, const int *labels, int n,
                                   float *x_hat);

typedef struct pd_sample_net {
    pd_denoise_fn fn;
    void *user;
    int null_label; /* label of the unconditional branch */
    size_t per;     /* floats per image */
} pd_sample_net;

/* Guidance around a network, shared by every solver: guidance is on at t
 * where cfg_low < t < cfg_high (cfg_low 0: no lower bound) and cfg_scale != 1;
 * then the cond and uncond passes run as one batch of 2B. */
typedef struct pd_guide {
    const pd_sample_config *cfg;
    const pd_sample_net *net;
    const int *labels; /* (B) */
    int B;
    int *labels2;      /* (2B) cond then null */
    float *z2;         /* (2B, per) */
    float *x2;         /* (2B, per) the network's output */
} pd_guide;

/* Heun's guided velocity v = v_u + w (v_c - v_u), v = (x - z) / max(1 - t, t_eps),
 * into v (B, per). */
pd_status pd_guide_velocity(pd_guide *g, const float *z, float t, float *v);
/* The guided data prediction x = x_u + w (x_c - x_u) into x (B, per): the
 * same combination as the velocity's (it is linear in x at fixed z and t). */
pd_status pd_guide_denoise(pd_guide *g, const float *z, float t, float *x);

/* Integrates z (B, per) in place over grid[0] < ... < grid[cfg->steps] with
 * cfg->sampler (cfg's schedule is not read: the grid is given). */
pd_status pd_sample_ode(const pd_sample_config *cfg, const float *grid, const pd_sample_net *net,
                        const int *labels, int B, float *z, pd_sample_progress_fn progress, void *user);

/* The multistep solvers (multistep.c); g's buffers are allocated. */
pd_status pd_sample_dpmpp_2m(pd_guide *g, const float *grid, int steps, float *z,
                             pd_sample_progress_fn progress, void *user);
pd_status pd_sample_unipc(pd_guide *g, const float *grid, int steps, float *z,
                          pd_sample_progress_fn progress, void *user);

#endif
