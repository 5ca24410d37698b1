/* JiT's ODE samplers around the model: guidance (CFG on an interval), Heun
 * (last step Euler) and Euler in velocity form with the t_eps clamp, and the
 * dispatch to the multistep solvers (multistep.c). Equations:
 * docs/sampling.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_internal.h"

/* torch.linspace on CPU fills the first half as start + step * i and the
 * second half as end - step * (n - 1 - i), in the output dtype. */
float pd_linspace01(int i, int n) {
    if (n == 1) return 0.0f;
    float step = (1.0f - 0.0f) / (float)(n - 1);
    int halfway = n / 2;
    return i < halfway ? 0.0f + step * (float)i : 1.0f - step * (float)(n - 1 - i);
}

/* The network's output for z at t into g->x2: B images, or 2B (cond then
 * uncond) where guidance is on. Returns the guidance weight in *w. */
static pd_status guide_eval(pd_guide *g, const float *z, float t, float *w) {
    const pd_sample_config *c = g->cfg;
    int B = g->B;
    size_t per = g->net->per;
    bool guided = t < c->cfg_high && (c->cfg_low == 0.0f || t > c->cfg_low);
    *w = guided ? c->cfg_scale : 1.0f;
    /* Outside the interval w = 1 makes the uncond branch cancel exactly:
     * v_u + 1 * (v_c - v_u) = v_c up to rounding; skip it for speed. */
    int n = (*w != 1.0f) ? 2 * B : B;
    for (int b = 0; b < n; b++) g->labels2[b] = b < B ? g->labels[b] : g->net->null_label;
    memcpy(g->z2, z, (size_t)B * per * sizeof(float));
    if (n > B) memcpy(g->z2 + (size_t)B * per, z, (size_t)B * per * sizeof(float));
    return g->net->fn(g->net->user, g->z2, t, g->labels2, n, g->x2);
}

pd_status pd_guide_velocity(pd_guide *g, const float *z, float t, float *v) {
    float w;
    pd_status st = guide_eval(g, z, t, &w);
    if (st) return st;
    /* torch: v = (x - z) / clamp(1 - t, t_eps); out = v_u + w * (v_c - v_u) */
    const float *x = g->x2;
    float denom = 1.0f - t < g->cfg->t_eps ? g->cfg->t_eps : 1.0f - t;
    size_t m = (size_t)g->B * g->net->per;
    if (w == 1.0f) {
        for (size_t i = 0; i < m; i++) v[i] = (x[i] - z[i]) / denom;
    } else {
        for (size_t i = 0; i < m; i++) {
            float vc = (x[i] - z[i]) / denom, vu = (x[m + i] - z[i]) / denom;
            v[i] = vu + w * (vc - vu);
        }
    }
    return PD_OK;
}

pd_status pd_guide_denoise(pd_guide *g, const float *z, float t, float *x) {
    float w;
    pd_status st = guide_eval(g, z, t, &w);
    if (st) return st;
    const float *xc = g->x2, *xu = g->x2 + (size_t)g->B * g->net->per;
    size_t m = (size_t)g->B * g->net->per;
    if (w == 1.0f) memcpy(x, xc, m * sizeof(float));
    else
        for (size_t i = 0; i < m; i++) x[i] = xu[i] + w * (xc[i] - xu[i]);
    return PD_OK;
}

/* JiT's solvers: Heun with its last step Euler, or Euler, in velocity form. */
static pd_status sample_heun_euler(pd_guide *g, const float *grid, int steps, bool heun, float *z,
                                   pd_sample_progress_fn progress, void *user) {
    size_t m = (size_t)g->B * g->net->per;
    float *v0 = malloc(m * sizeof(float)), *v1 = malloc(m * sizeof(float)), *ze = malloc(m * sizeof(float));
    pd_status st = PD_OK;
    if (!v0 || !v1 || !ze) st = pd_fail(PD_ERR_NOMEM, "sample: out of memory");
    for (int i = 0; i < steps && !st; i++) {
        float t = grid[i], tn = grid[i + 1], dt = tn - t;
        bool last = i == steps - 1;
        if ((st = pd_guide_velocity(g, z, t, v0))) break;
        if (!heun || last) {
            for (size_t k = 0; k < m; k++) z[k] = z[k] + dt * v0[k];
        } else {
            for (size_t k = 0; k < m; k++) ze[k] = z[k] + dt * v0[k];
            if ((st = pd_guide_velocity(g, ze, tn, v1))) break;
            for (size_t k = 0; k < m; k++) z[k] = z[k] + dt * (0.5f * (v0[k] + v1[k]));
        }
        if (progress) progress(i + 1, steps, user);
    }
    free(v0);
    free(v1);
    free(ze);
    return st;
}

pd_status pd_sample_ode(const pd_sample_config *cfg, const float *grid, const pd_sample_net *net,
                        const int *labels, int B, float *z, pd_sample_progress_fn progress, void *user) {
    int steps = cfg->steps;
    if (steps < 1) return pd_fail(PD_ERR_ARG, "sample: steps must be >= 1, got %d", steps);
    for (int i = 0; i < steps; i++)
        if (!(grid[i] >= 0.0f && grid[i] < grid[i + 1] && grid[i + 1] <= 1.0f))
            return pd_fail(PD_ERR_ARG, "sample: time grid must increase inside [0, 1]; t[%d] = %g, t[%d] = %g",
                           i, (double)grid[i], i + 1, (double)grid[i + 1]);
    size_t m = (size_t)B * net->per;
    pd_guide g = {cfg, net, labels, B, malloc(2 * (size_t)B * sizeof(int)), malloc(2 * m * sizeof(float)),
                  malloc(2 * m * sizeof(float))};
    pd_status st = PD_OK;
    if (!g.labels2 || !g.z2 || !g.x2) st = pd_fail(PD_ERR_NOMEM, "sample: out of memory");
    else switch (cfg->sampler) {
        case PD_SAMPLER_HEUN:
        case PD_SAMPLER_EULER:
            st = sample_heun_euler(&g, grid, steps, cfg->sampler == PD_SAMPLER_HEUN, z, progress, user);
            break;
        case PD_SAMPLER_DPMPP_2M: st = pd_sample_dpmpp_2m(&g, grid, steps, z, progress, user); break;
        case PD_SAMPLER_UNIPC: st = pd_sample_unipc(&g, grid, steps, z, progress, user); break;
        default: st = pd_fail(PD_ERR_ARG, "sample: unknown sampler %d", (int)cfg->sampler);
        }
    free(g.labels2);
    free(g.z2);
    free(g.x2);
    return st;
}

/* The JiT model as a pd_denoise_fn. */
typedef struct {
    pd_jit *model;
    pd_ctx *ctx;
    float *t2; /* (2B) */
} model_net;

static pd_status model_denoise(void *user, const float *z, float t, const int *labels, int n, float *x_hat) {
    model_net *mn = user;
    const pd_jit_config *jc = pd_jit_get_config(mn->model);
    for (int b = 0; b < n; b++) mn->t2[b] = t;
    pd_ctx_reset(mn->ctx);
    pd_tensor *zt = pd_tensor_from(mn->ctx, z, (int[]){n, jc->channels, jc->image_size, jc->image_size}, 4);
    pd_tensor *x = pd_jit_forward(mn->model, mn->ctx, zt, mn->t2, labels, NULL);
    if (!x) return pd_ctx_status(mn->ctx) ? pd_fail(pd_ctx_status(mn->ctx), "%s", pd_ctx_error(mn->ctx)) : PD_ERR_ARG;
    memcpy(x_hat, x->data, (size_t)n * jc->channels * jc->image_size * jc->image_size * sizeof(float));
    return PD_OK;
}

pd_status pd_sample_from(pd_jit *model, pd_ctx *ctx, const pd_sample_config *cfg, const int *labels,
                         int B, float *z, pd_sample_progress_fn progress, void *user) {
    const pd_jit_config *jc = pd_jit_get_config(model);
    if (cfg->steps < 1) return pd_fail(PD_ERR_ARG, "sample: steps must be >= 1, got %d", cfg->steps);
    float *grid = malloc(((size_t)cfg->steps + 1) * sizeof(float));
    model_net mn = {model, ctx, malloc(2 * (size_t)B * sizeof(float))};
    pd_status st = PD_OK;
    if (!grid || !mn.t2) st = pd_fail(PD_ERR_NOMEM, "sample: out of memory");
    if (!st) st = pd_sample_time_grid(cfg, grid);
    if (!st) {
        pd_sample_net net = {model_denoise, &mn, jc->num_classes,
                             (size_t)jc->channels * jc->image_size * jc->image_size};
        bool old_grad = pd_ctx_set_grad_enabled(ctx, false);
        bool old_train = pd_ctx_set_training(ctx, false);
        st = pd_sample_ode(cfg, grid, &net, labels, B, z, progress, user);
        pd_ctx_set_grad_enabled(ctx, old_grad);
        pd_ctx_set_training(ctx, old_train);
        pd_ctx_reset(ctx);
    }
    free(grid);
    free(mn.t2);
    return st;
}

pd_status pd_sample(pd_jit *model, pd_ctx *ctx, const pd_sample_config *cfg, const int *labels,
                    int B, pd_rng *rng, float *out, pd_sample_progress_fn progress, void *user) {
    const pd_jit_config *jc = pd_jit_get_config(model);
    size_t m = (size_t)B * jc->channels * jc->image_size * jc->image_size;
    pd_rng_fill_normal(rng, out, m, 0.0f, 1.0f);
    for (size_t k = 0; k < m; k++) out[k] *= cfg->noise_scale;
    return pd_sample_from(model, ctx, cfg, labels, B, out, progress, user);
}
