/* JiT's ODE samplers: Heun (last step Euler) or Euler on the uniform grid
 * linspace(0, 1, steps + 1), CFG with a guidance interval, t_eps clamp. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/train.h"

/* torch.linspace on CPU fills the first half as start + step * i and the
 * second half as end - step * (n - 1 - i), in the output dtype. */
float pd_linspace01(int i, int n) {
    if (n == 1) return 0.0f;
    float step = (1.0f - 0.0f) / (float)(n - 1);
    int halfway = n / 2;
    return i < halfway ? 0.0f + step * (float)i : 1.0f - step * (float)(n - 1 - i);
}

typedef struct {
    pd_jit *model;
    pd_ctx *ctx;
    const pd_sample_config *cfg;
    const int *labels;
    int B;
    size_t per;        /* floats per image */
    int *labels2;      /* (2B) cond then null */
    float *t2;         /* (2B) */
    float *z2;         /* (2B, C, H, W) */
} sample_state;

/* Guided velocity at (z, t) into v (B, C, H, W). */
static pd_status velocity(sample_state *s, const float *z, float t, float *v) {
    const pd_sample_config *c = s->cfg;
    int B = s->B, null = pd_jit_get_config(s->model)->num_classes;
    bool guided = t < c->cfg_high && (c->cfg_low == 0.0f || t > c->cfg_low);
    float w = guided ? c->cfg_scale : 1.0f;
    /* Outside the interval w = 1 makes the uncond branch cancel exactly:
     * v_u + 1 * (v_c - v_u) = v_c up to rounding; skip it for speed. */
    int n = (w != 1.0f) ? 2 * B : B;
    const pd_jit_config *jc = pd_jit_get_config(s->model);
    for (int b = 0; b < n; b++) {
        s->labels2[b] = b < B ? s->labels[b] : null;
        s->t2[b] = t;
    }
    memcpy(s->z2, z, (size_t)B * s->per * sizeof(float));
    if (n > B) memcpy(s->z2 + (size_t)B * s->per, z, (size_t)B * s->per * sizeof(float));
    pd_ctx_reset(s->ctx);
    pd_tensor *zt = pd_tensor_from(s->ctx, s->z2, (int[]){n, jc->channels, jc->image_size, jc->image_size}, 4);
    pd_tensor *x = pd_jit_forward(s->model, s->ctx, zt, s->t2, s->labels2, NULL);
    if (!x) return pd_ctx_status(s->ctx) ? pd_fail(pd_ctx_status(s->ctx), "%s", pd_ctx_error(s->ctx)) : PD_ERR_ARG;
    /* torch: v = (x - z) / clamp(1 - t, t_eps); out = v_u + w * (v_c - v_u) */
    float denom = 1.0f - t < c->t_eps ? c->t_eps : 1.0f - t;
    size_t m = (size_t)B * s->per;
    if (n == B) {
        for (size_t i = 0; i < m; i++) v[i] = (x->data[i] - z[i]) / denom;
    } else {
        for (size_t i = 0; i < m; i++) {
            float vc = (x->data[i] - z[i]) / denom, vu = (x->data[m + i] - z[i]) / denom;
            v[i] = vu + w * (vc - vu);
        }
    }
    return PD_OK;
}

pd_status pd_sample_from(pd_jit *model, pd_ctx *ctx, const pd_sample_config *cfg, const int *labels,
                         int B, float *z, pd_sample_progress_fn progress, void *user) {
    const pd_jit_config *jc = pd_jit_get_config(model);
    if (cfg->steps < 1) return pd_fail(PD_ERR_ARG, "sample: steps must be >= 1, got %d", cfg->steps);
    sample_state s = {model, ctx, cfg, labels, B,
                      (size_t)jc->channels * jc->image_size * jc->image_size, NULL, NULL, NULL};
    size_t m = (size_t)B * s.per;
    s.labels2 = malloc(2 * (size_t)B * sizeof(int));
    s.t2 = malloc(2 * (size_t)B * sizeof(float));
    s.z2 = malloc(2 * m * sizeof(float));
    float *v0 = malloc(m * sizeof(float)), *v1 = malloc(m * sizeof(float)), *ze = malloc(m * sizeof(float));
    pd_status st = PD_OK;
    if (!s.labels2 || !s.t2 || !s.z2 || !v0 || !v1 || !ze) {
        st = pd_fail(PD_ERR_NOMEM, "sample: out of memory");
        goto done;
    }
    bool old_grad = pd_ctx_set_grad_enabled(ctx, false);
    bool old_train = pd_ctx_set_training(ctx, false);
    int n = cfg->steps + 1;
    for (int i = 0; i < cfg->steps; i++) {
        float t = pd_linspace01(i, n), tn = pd_linspace01(i + 1, n), dt = tn - t;
        bool last = i == cfg->steps - 1;
        if ((st = velocity(&s, z, t, v0))) break;
        if (cfg->sampler == PD_SAMPLER_EULER || last) {
            for (size_t k = 0; k < m; k++) z[k] = z[k] + dt * v0[k];
        } else {
            for (size_t k = 0; k < m; k++) ze[k] = z[k] + dt * v0[k];
            if ((st = velocity(&s, ze, tn, v1))) break;
            for (size_t k = 0; k < m; k++) z[k] = z[k] + dt * (0.5f * (v0[k] + v1[k]));
        }
        if (progress) progress(i + 1, cfg->steps, user);
    }
    pd_ctx_set_grad_enabled(ctx, old_grad);
    pd_ctx_set_training(ctx, old_train);
    pd_ctx_reset(ctx);
done:
    free(s.labels2);
    free(s.t2);
    free(s.z2);
    free(v0);
    free(v1);
    free(ze);
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
