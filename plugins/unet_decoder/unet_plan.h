/* unet_plan.h - the layer plan of the Patch Detailer Head (DiP, spec
 * pixeldit_dip.md 2.2): how many stages, the width of every layer and the
 * side of every feature map, computed once from the model and the keys.
 * Registration, initialisation, forward and flops all read this plan, so
 * they cannot disagree about a shape.
 *
 * For S stages (S = log2(p) by default) and base width w:
 *   ch[k] = w * min(2^(k-1), max_mult)      channels of enc_k, k = 1..S
 *   side(k) = p >> (k-1)                    enc_k, up_k and dec_k run here
 *   bottleneck side = p >> S                (1 when S = log2(p))
 *   enc_k    Conv3x3 (k = 1: C, else ch[k-1]) -> ch[k], after a MaxPool2x2 for k > 1
 *   bottleneck Conv1x1 (ch[S] + D) -> ch[S]  on [MaxPool(enc_S) ; s_i]
 *   up_k     ConvT2x2 ch[k] -> ch[k]         (its input: bottleneck for k = S,
 *                                             dec_{k+1} otherwise, both ch[k] wide)
 *   dec_k    Conv3x3 2 ch[k] -> dec_out(k)   on [up_k ; enc_k]
 *   out      Conv1x1 w -> C
 */
#ifndef UNET_PLAN_H
#define UNET_PLAN_H

#include "pixeldit/plugin.h"

#define UNET_MAX_STAGES 10 /* p up to 1024 */

typedef struct unet_plan {
    int C, p, D;   /* image channels, patch size, token width */
    int N;         /* patches (tokens) per image */
    int width;     /* base_width w */
    int max_mult;  /* channel cap as a multiple of w */
    int stages;    /* S: encoder convs = max-pools = decoder stages */
    int ch[UNET_MAX_STAGES + 1]; /* ch[k], k = 1..S (ch[0] unused) */
} unet_plan;

/* Validates the patch size and the keys and fills the plan; on error
 * returns PD_ERR_CONFIG with a message (through host->fail) naming the
 * key, its value and why. stages 0 means log2(p). */
pd_status unet_plan_make(const pd_host_api *host, const pd_model_info *info, int width,
                         int stages, int max_mult, unet_plan *out);

/* Side of the feature maps of stage k (1..S), and of the bottleneck. */
int unet_side(const unet_plan *pl, int k);
int unet_bottleneck_side(const unet_plan *pl);
/* Output channels of dec_k: ch[k-1] for k > 1, w for k = 1. */
int unet_dec_out(const unet_plan *pl, int k);

/* Forward FLOPs of the head per image: every conv counted as
 * 2 * Cin * Cout * k * k * Hout * Wout (the 2x2 stride-2 transposed conv as
 * 2 * Cin * Cout * Hout * Wout), per patch, times N. Pools and SiLUs are
 * not counted. */
double unet_plan_flops(const unet_plan *pl);

#endif
