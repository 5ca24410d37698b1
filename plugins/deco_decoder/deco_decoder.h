/* deco_decoder.h - the state shared by the files of the deco_decoder
 * plugin: DeCo's attention-free per-pixel decoder (arXiv 2511.19365, spec
 * deco.md 2; docs/deco_decoder.md).
 *
 * Every pixel is one row of a (R, width) matrix, R = B*H*W, ordered as
 * (sample, token, pixel-in-patch): row (b*N + n)*p*p + py*p + px. That is
 * the order of the "linear up-sampling" cond_embed output reshaped to
 * (R, width), and of patchify(z, p, JiT layout) reshaped to (R, C), so the
 * whole decoder runs as a few GEMMs over all R rows with no permutes. */
#ifndef DECO_DECODER_H
#define DECO_DECODER_H

#include "pixeldit/plugin.h"

#define DECO_MAX_DEPTH 64
#define DECO_LN_EPS 1e-6f /* in_ln and the final LayerNorm (spec 2.3, 2.4) */

/* One ResBlock (spec 2.3): affine LayerNorm, adaLN (SiLU + Linear(w, 3w)
 * on the per-pixel condition; chunk order shift, scale, gate), MLP
 * w -> w (SiLU) -> w, gated residual. */
typedef struct deco_block {
    pd_tensor *ln_w, *ln_b;   /* in_ln: (w), (w) */
    pd_tensor *fc1_w, *fc1_b; /* mlp.0: (w, w), (w) */
    pd_tensor *fc2_w, *fc2_b; /* mlp.2: (w, w), (w) */
    pd_tensor *ada_w, *ada_b; /* adaLN_modulation.1: (3w, w), (3w) */
} deco_block;

typedef struct deco_state {
    const pd_host_api *host;
    pd_model_info info;
    int width;     /* w, hidden_size_x (DeCo: 32) */
    int depth;     /* ResBlocks (DeCo: 3) */
    int max_freqs; /* F: F x F DCT position features (DeCo: 8) */
    pd_tensor *emb_w, *emb_b;   /* x_embedder.embedder.0: (w, C + F*F), (w) */
    pd_tensor *cond_w, *cond_b; /* dec_net.cond_embed: (p*p*w, D), (p*p*w) */
    pd_tensor *in_w, *in_b;     /* dec_net.input_proj: (w, w), (w) */
    deco_block blocks[DECO_MAX_DEPTH];
    pd_tensor *out_w, *out_b;   /* dec_net.final_layer.linear: (C, w), (C) */
    float *dct;                 /* (p*p, F*F) position table, owned */
} deco_state;

/* deco_dct.c: NerfEmbedder's position table for a p x p patch, written to
 * out (p*p, F*F): feature a*F + b of pixel (i, j) is
 *   cos(pi f_a x_j) cos(pi f_b y_i) / (1 + f_a f_b),
 *   x_j = j/(p-1), y_i = i/(p-1) (0 when p = 1), f_k = k*F/(F-1) (0 when F = 1),
 * i.e. linspace(0, 1, p) positions and linspace(0, F, F) frequencies, the x
 * frequency the outer index (spec 2.1). */
void deco_dct_table(float *out, int p, int F);

/* deco_params.c: registers every parameter under its official DeCo name
 * with the "decoder." prefix (decoder.dec_net.cond_embed.weight, ...);
 * PD_ERR_PLUGIN when the host refused one (message set). */
pd_status deco_params_register(deco_state *s, pd_params *params);
/* DeCo's init (spec 2.6): x_embedder PyTorch-default, every dec_net
 * Linear xavier_uniform with zero bias, in_ln weight 1 bias 0, then each
 * block's adaLN linear and the final linear zero, so a fresh decoder
 * outputs exactly 0. Drawn from the host rng in registration order. */
void deco_params_init(deco_state *s, pd_rng *rng);

/* deco_forward.c: x_pred (B, C, H, W) from z, tokens and t_emb; NULL with
 * the error in ctx. */
pd_tensor *deco_forward(const deco_state *s, pd_ctx *ctx, const pd_decoder_inputs *in);

/* Forward FLOPs per image (GEMMs only; see docs/deco_decoder.md). */
double deco_flops(const deco_state *s);

#endif
