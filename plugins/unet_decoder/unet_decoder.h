/* unet_decoder.h - the state shared by the files of the unet_decoder
 * plugin (DiP's Patch Detailer Head, docs/unet_decoder.md). */
#ifndef UNET_DECODER_H
#define UNET_DECODER_H

#include "pixeldit/plugin_util.h"
#include "unet_plan.h"

typedef enum unet_mode {
    UNET_REPLACE = 0,  /* x_pred = head(z, tokens): DiP, no JiT final layer */
    UNET_RESIDUAL = 1  /* x_pred = JiT final layer(tokens, c) + head(z, tokens) */
} unet_mode;

/* One convolution's parameters; fan_in is what PyTorch's default init uses. */
typedef struct unet_conv {
    pd_tensor *w; /* Conv2d (Co, Ci, k, k) / ConvTranspose2d (Ci, Co, 2, 2) */
    pd_tensor *b; /* (Co) */
    int fan_in;   /* Conv2d: Ci*k*k; ConvTranspose2d: weight.size(1)*2*2 = Co*4 */
} unet_conv;

typedef struct unet_state {
    const pd_host_api *host;
    pd_model_info info;
    unet_plan plan;
    unet_mode mode;
    bool out_zero;                        /* out_init = zero */
    unet_conv enc[UNET_MAX_STAGES + 1];   /* enc[k], k = 1..S */
    unet_conv up[UNET_MAX_STAGES + 1];    /* up[k] */
    unet_conv dec[UNET_MAX_STAGES + 1];   /* dec[k] */
    unet_conv bottleneck, out;
    pd_jit_head fl;                       /* decoder.final_layer.*, residual mode only */
} unet_state;

/* unet_params.c: registers every parameter in plan order (decoder.enc1.weight,
 * ...); PD_ERR_PLUGIN when the host refused one (message set). */
pd_status unet_params_register(unet_state *s, pd_params *params);
/* PyTorch default init of every conv, then out_init and JiT's final-layer
 * init, drawn from the host rng in registration order. */
void unet_params_init(unet_state *s, pd_rng *rng);

/* unet_forward.c: head(z, s) (B, C, H, W) and, in residual mode, plus the
 * final layer; NULL with the error in ctx. */
pd_tensor *unet_forward(const unet_state *s, pd_ctx *ctx, const pd_decoder_inputs *in);

#endif
