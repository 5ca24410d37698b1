/* JiT's Denoiser training side: logit-normal t, Gaussian noise, label drop,
 * and the velocity scale; the warm-up schedule. */
#include <math.h>

#include "pixeldit/train.h"

float pd_lr_at(float base_lr, int64_t step, int64_t warmup_steps) {
    if (warmup_steps > 0 && step < warmup_steps) return base_lr * (float)step / (float)warmup_steps;
    return base_lr;
}

float pd_diffusion_inv_denom(float t, float t_eps) {
    float d = 1.0f - t;
    return 1.0f / (d > t_eps ? d : t_eps);
}

void pd_diffusion_noise_at(const pd_diffusion_config *cfg, const pd_rng *key, uint64_t step,
                           int64_t first, const float *x, int B, size_t per_sample,
                           const int *labels, float *t, float *z, int *labels_dropped) {
    for (int b = 0; b < B; b++) {
        pd_rng r;
        pd_rng_derive(&r, key, step, (uint64_t)(first + b), PD_RNG_STREAM_DIFFUSION);
        float n = (float)pd_rng_normal(&r) * cfg->P_std + cfg->P_mean;
        t[b] = 1.0f / (1.0f + expf(-n));
        bool drop = pd_rng_uniform(&r) < cfg->label_drop_prob;
        labels_dropped[b] = drop ? cfg->num_classes : labels[b];
        const float *xb = x + (size_t)b * per_sample; /* (C, H, W) */
        float *zb = z + (size_t)b * per_sample;
        for (size_t i = 0; i < per_sample; i++) {
            float e = (float)pd_rng_normal(&r) * cfg->noise_scale;
            zb[i] = t[b] * xb[i] + (1.0f - t[b]) * e;
        }
    }
}
