/* The layer plan: validation of the patch size and keys, channel widths,
 * feature-map sides and the analytic FLOP count. */
#include "unet_plan.h"

/* log2(p) for a power of two p >= 2, else -1. */
static int log2_exact(int p) {
    if (p < 2 || (p & (p - 1))) return -1;
    int s = 0;
    while ((1 << s) < p) s++;
    return s;
}

pd_status unet_plan_make(const pd_host_api *host, const pd_model_info *info, int width,
                         int stages, int max_mult, unet_plan *out) {
    int p = info->patch_size, full = log2_exact(p);
    if (full < 0)
        return host->fail(PD_ERR_CONFIG,
                          "unet_decoder: patch_size %d is not a power of two >= 2: the U-Net halves "
                          "each p x p patch with 2x2 max-pools down to 1 x 1, so [model] patch_size "
                          "must be 2, 4, 8, 16, 32, ...",
                          p);
    if (full > UNET_MAX_STAGES)
        return host->fail(PD_ERR_CONFIG, "unet_decoder: patch_size %d needs %d stages, more than %d",
                          p, full, UNET_MAX_STAGES);
    if (stages < 0 || stages > full)
        return host->fail(PD_ERR_CONFIG,
                          "unet_decoder: stages = %d: expected 0 (= log2(patch_size) = %d) or "
                          "1..%d (patch_size %d can be halved %d times)",
                          stages, full, full, p, full);
    if (width < 1 || max_mult < 1)
        return host->fail(PD_ERR_CONFIG, "unet_decoder: base_width = %d and max_width_mult = %d "
                          "must be >= 1", width, max_mult);
    if ((long)width * max_mult * 2 > (1L << 20))
        return host->fail(PD_ERR_CONFIG, "unet_decoder: base_width %d x max_width_mult %d is too wide",
                          width, max_mult);
    *out = (unet_plan){0};
    out->C = info->channels, out->p = p, out->D = info->hidden_size, out->N = info->num_tokens;
    out->width = width, out->max_mult = max_mult;
    out->stages = stages ? stages : full;
    for (int k = 1, mult = 1; k <= out->stages; k++, mult *= 2)
        out->ch[k] = width * (mult < max_mult ? mult : max_mult);
    return PD_OK;
}

int unet_side(const unet_plan *pl, int k) { return pl->p >> (k - 1); }
int unet_bottleneck_side(const unet_plan *pl) { return pl->p >> pl->stages; }
int unet_dec_out(const unet_plan *pl, int k) { return k > 1 ? pl->ch[k - 1] : pl->width; }

/* 2 * Cin * Cout * taps * Hout * Wout */
static double conv_flops(double ci, double co, double taps, double side) {
    return 2.0 * ci * co * taps * side * side;
}

double unet_plan_flops(const unet_plan *pl) {
    int S = pl->stages;
    double f = 0;
    for (int k = 1; k <= S; k++) {
        double side = unet_side(pl, k), ch = pl->ch[k];
        f += conv_flops(k == 1 ? pl->C : pl->ch[k - 1], ch, 9, side); /* enc_k */
        f += conv_flops(ch, ch, 1, side);                               /* up_k */
        f += conv_flops(2 * ch, unet_dec_out(pl, k), 9, side);          /* dec_k */
    }
    f += conv_flops(pl->ch[S] + pl->D, pl->ch[S], 1, unet_bottleneck_side(pl));
    f += conv_flops(pl->width, pl->C, 1, pl->p); /* out */
    return f * pl->N;
}
