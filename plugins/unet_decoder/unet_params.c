/* Parameters of the head: registration under "decoder." names (the same
 * names, minus the prefix, as the PyTorch reference module in
 * tests/golden/make_unet_goldens.py) and PyTorch's default initialisation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "unet_decoder.h"

/* decoder.<stem>.weight (shape) and decoder.<stem>.bias (bias_len). */
static bool add_conv(unet_state *s, pd_params *params, unet_conv *cv, const char *stem,
                     const int shape[4], int bias_len, int fan_in) {
    char name[96];
    snprintf(name, sizeof name, "decoder.%s.weight", stem);
    cv->w = s->host->param_add(params, name, shape, 4, 0);
    snprintf(name, sizeof name, "decoder.%s.bias", stem);
    cv->b = s->host->param_add(params, name, (int[]){bias_len}, 1, 0);
    cv->fan_in = fan_in;
    return cv->w && cv->b;
}

/* Conv2d(ci -> co, k x k): weight (co, ci, k, k). */
static bool add_conv2d(unet_state *s, pd_params *params, unet_conv *cv, const char *stem, int ci,
                       int co, int k) {
    return add_conv(s, params, cv, stem, (int[]){co, ci, k, k}, co, ci * k * k);
}

/* ConvTranspose2d(ci -> co, 2, stride 2): weight (ci, co, 2, 2); torch's
 * fan_in is weight.size(1) * 2 * 2 = co * 4. */
static bool add_convt(unet_state *s, pd_params *params, unet_conv *cv, const char *stem, int ci,
                      int co) {
    return add_conv(s, params, cv, stem, (int[]){ci, co, 2, 2}, co, co * 4);
}

pd_status unet_params_register(unet_state *s, pd_params *params) {
    const unet_plan *pl = &s->plan;
    int S = pl->stages;
    char stem[32];
    bool ok = true;
    for (int k = 1; k <= S && ok; k++) {
        snprintf(stem, sizeof stem, "enc%d", k);
        ok = add_conv2d(s, params, &s->enc[k], stem, k == 1 ? pl->C : pl->ch[k - 1], pl->ch[k], 3);
    }
    ok = ok && add_conv2d(s, params, &s->bottleneck, "bottleneck", pl->ch[S] + pl->D, pl->ch[S], 1);
    for (int k = S; k >= 1 && ok; k--) {
        snprintf(stem, sizeof stem, "up%d", k);
        ok = add_convt(s, params, &s->up[k], stem, pl->ch[k], pl->ch[k]);
        snprintf(stem, sizeof stem, "dec%d", k);
        ok = ok && add_conv2d(s, params, &s->dec[k], stem, 2 * pl->ch[k], unet_dec_out(pl, k), 3);
    }
    ok = ok && add_conv2d(s, params, &s->out, "out", pl->width, pl->C, 1);
    if (ok && s->mode == UNET_RESIDUAL)
        ok = pd_jit_head_add(s->host, params, "decoder.final_layer.", &s->info, &s->fl);
    return ok ? PD_OK : PD_ERR_PLUGIN; /* the host set the message */
}

/* kaiming_uniform(a = sqrt(5)) on the weight and the bias rule of
 * _ConvNd.reset_parameters both give U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
static void init_conv(const pd_host_api *h, unet_conv *cv, pd_rng *rng) {
    float bound = 1.0f / sqrtf((float)cv->fan_in);
    h->rng_uniform(rng, cv->w->data, cv->w->numel, -bound, bound);
    h->rng_uniform(rng, cv->b->data, cv->b->numel, -bound, bound);
}

static void fill(pd_tensor *t, float v) {
    for (size_t i = 0; i < t->numel; i++) t->data[i] = v;
}

void unet_params_init(unet_state *s, pd_rng *rng) {
    const pd_host_api *h = s->host;
    int S = s->plan.stages;
    for (int k = 1; k <= S; k++) init_conv(h, &s->enc[k], rng);
    init_conv(h, &s->bottleneck, rng);
    for (int k = S; k >= 1; k--) init_conv(h, &s->up[k], rng), init_conv(h, &s->dec[k], rng);
    init_conv(h, &s->out, rng);
    if (s->out_zero) fill(s->out.w, 0.0f), fill(s->out.b, 0.0f);
    if (s->mode == UNET_RESIDUAL) pd_jit_head_init(&s->fl); /* JiT's: no draws */
}
