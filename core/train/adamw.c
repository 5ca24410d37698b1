/* AdamW with torch.optim.AdamW's update order (decoupled decay first, then
 * bias-corrected moments), global grad-norm clipping, and a finite check. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/train.h"

struct pd_adamw {
    pd_params *params;
    pd_adamw_config cfg;
    int64_t t;
    float *m, *v;        /* one block each, trainable params back to back */
    size_t *offset;      /* per param; SIZE_MAX for frozen */
    int n;
};

pd_adamw *pd_adamw_new(pd_params *params, const pd_adamw_config *cfg) {
    pd_adamw *o = calloc(1, sizeof *o);
    if (!o) goto nomem;
    o->params = params;
    o->cfg = *cfg;
    o->n = pd_params_count(params);
    o->offset = malloc((size_t)(o->n ? o->n : 1) * sizeof *o->offset);
    size_t total = pd_params_numel(params, true);
    o->m = calloc(total ? total : 1, sizeof(float));
    o->v = calloc(total ? total : 1, sizeof(float));
    if (!o->offset || !o->m || !o->v) goto nomem;
    size_t off = 0;
    for (int i = 0; i < o->n; i++) {
        pd_tensor *p = pd_params_at(params, i);
        if (p->grad) {
            o->offset[i] = off;
            off += p->numel;
        } else {
            o->offset[i] = SIZE_MAX;
        }
    }
    return o;
nomem:
    pd_adamw_free(o);
    pd_fail(PD_ERR_NOMEM, "adamw: out of memory for optimizer state");
    return NULL;
}

void pd_adamw_free(pd_adamw *o) {
    if (!o) return;
    free(o->m);
    free(o->v);
    free(o->offset);
    free(o);
}

int64_t pd_adamw_steps(const pd_adamw *o) { return o->t; }
void pd_adamw_set_steps(pd_adamw *o, int64_t t) { o->t = t; }

float *pd_adamw_moment(pd_adamw *o, int i, int which) {
    if (i < 0 || i >= o->n || o->offset[i] == SIZE_MAX) return NULL;
    return (which == 1 ? o->m : o->v) + o->offset[i];
}

pd_status pd_adamw_step(pd_adamw *o, float lr, float *grad_norm) {
    double sq = 0;
    for (int i = 0; i < o->n; i++) {
        pd_tensor *p = pd_params_at(o->params, i);
        if (!p->grad) continue;
        /* threads and SIMD lanes keep partial sums: a fixed order for a
         * fixed thread count, so runs stay reproducible */
        double s = 0;
        const float *restrict g = p->grad;
        size_t n = p->numel;
#pragma omp parallel for simd schedule(static) reduction(+ : s) if (n > 65536)
        for (size_t k = 0; k < n; k++) s += (double)g[k] * g[k];
        if (!isfinite(s))
            return pd_fail(PD_ERR_NUMERIC, "adamw: gradient of '%s' is not finite", p->name);
        sq += s;
    }
    float norm = (float)sqrt(sq);
    if (grad_norm) *grad_norm = norm;
    float clip = 1.0f;
    if (o->cfg.grad_clip > 0 && norm > o->cfg.grad_clip) clip = o->cfg.grad_clip / (norm + 1e-6f);

    o->t++;
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const float bc1 = 1.0f - powf(b1, (float)o->t);
    const float bc2_sqrt = sqrtf(1.0f - powf(b2, (float)o->t));
    const float step_size = lr / bc1;
    for (int i = 0; i < o->n; i++) {
        pd_tensor *p = pd_params_at(o->params, i);
        if (!p->grad) continue;
        float *restrict w = p->data, *restrict m = o->m + o->offset[i], *restrict v = o->v + o->offset[i];
        const float *restrict g = p->grad;
        const float decay = pd_params_decays(o->params, i) ? 1.0f - lr * o->cfg.weight_decay : 1.0f;
        size_t n = p->numel;
#pragma omp parallel for if (n > 65536)
        for (size_t k = 0; k < n; k++) {
            float gk = g[k] * clip;
            w[k] *= decay;
            m[k] = b1 * m[k] + (1.0f - b1) * gk;
            v[k] = b2 * v[k] + (1.0f - b2) * gk * gk;
            float denom = sqrtf(v[k]) / bc2_sqrt + eps;
            w[k] -= step_size * m[k] / denom;
        }
    }
    return PD_OK;
}
