/* Exponential moving average of every parameter (frozen ones included, so
 * an EMA state_dict is complete). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/train.h"

struct pd_ema {
    pd_params *params;
    float decay;
    float *data;     /* all params back to back */
    size_t *offset;
    int n;
};

pd_ema *pd_ema_new(pd_params *params, float decay) {
    pd_ema *e = calloc(1, sizeof *e);
    if (!e) goto nomem;
    e->params = params;
    e->decay = decay;
    e->n = pd_params_count(params);
    size_t total = pd_params_numel(params, false);
    e->data = malloc((total ? total : 1) * sizeof(float));
    e->offset = malloc((size_t)(e->n ? e->n : 1) * sizeof *e->offset);
    if (!e->data || !e->offset) goto nomem;
    size_t off = 0;
    for (int i = 0; i < e->n; i++) {
        pd_tensor *p = pd_params_at(params, i);
        e->offset[i] = off;
        memcpy(e->data + off, p->data, p->numel * sizeof(float));
        off += p->numel;
    }
    return e;
nomem:
    pd_ema_free(e);
    pd_fail(PD_ERR_NOMEM, "ema: out of memory");
    return NULL;
}

void pd_ema_free(pd_ema *e) {
    if (!e) return;
    free(e->data);
    free(e->offset);
    free(e);
}

/* (1 + t) / (gamma + t), in double so it is exact to float rounding at any t. */
static double warmup_ratio(double gamma, long long t) {
    return (1.0 + (double)(t < 0 ? 0 : t)) / (gamma + (double)(t < 0 ? 0 : t));
}

float pd_ema_warmup_decay(float decay, double gamma, long long t) {
    double warm = warmup_ratio(gamma, t);
    return warm < (double)decay ? (float)warm : decay;
}

void pd_ema_update_with(pd_ema *e, float decay) {
    const float d = decay, one_minus = 1.0f - decay;
    for (int i = 0; i < e->n; i++) {
        pd_tensor *p = pd_params_at(e->params, i);
        float *restrict a = e->data + e->offset[i];
        const float *restrict w = p->data;
        size_t n = p->numel;
#pragma omp parallel for if (n > 65536)
        for (size_t k = 0; k < n; k++) a[k] = d * a[k] + one_minus * w[k];
    }
}

double pd_ema_initial_share(double decay, double gamma, long long steps) {
    /* The initial weights keep a factor decay_t at each update t. */
    double left = 1.0;
    long long t = 0;
    if (gamma > 1)
        for (; t < steps && warmup_ratio(gamma, t) < decay; t++) left *= warmup_ratio(gamma, t);
    return t < steps ? left * pow(decay, (double)(steps - t)) : left;
}

float *pd_ema_data(pd_ema *e, int i) { return (i >= 0 && i < e->n) ? e->data + e->offset[i] : NULL; }
float pd_ema_decay(const pd_ema *e) { return e->decay; }

void pd_ema_swap(pd_ema *e) {
    for (int i = 0; i < e->n; i++) {
        pd_tensor *p = pd_params_at(e->params, i);
        float *a = e->data + e->offset[i];
        for (size_t k = 0; k < p->numel; k++) {
            float tmp = a[k];
            a[k] = p->data[k];
            p->data[k] = tmp;
        }
    }
}
