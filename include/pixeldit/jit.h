/* pixeldit/jit.h - the JiT backbone (Li & He 2025), exactly as the official
 * PyTorch model_jit.py: bottleneck patch embedding, fixed 2D sin-cos
 * position embedding, timestep and label embedders, in-context class
 * tokens, adaLN-Zero blocks with RMSNorm, qk-norm, 2D RoPE and SwiGLU.
 *
 * The head that turns tokens into the predicted image is a decoder plugin
 * (the built-in one is JiT's final layer + unpatchify) and the attention
 * kernel is an attention plugin (the built-in one is exact SDPA).
 */
#ifndef PIXELDIT_JIT_H
#define PIXELDIT_JIT_H

#include "pixeldit/params.h"
#include "pixeldit/plugin.h"
#include "pixeldit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

typedef struct pd_jit_config {
    int image_size;       /* H = W */
    int channels;         /* C: 1 or 3 */
    int patch_size;       /* p */
    int hidden_size;      /* D */
    int depth;            /* number of blocks */
    int num_heads;
    int bottleneck_dim;   /* d' of the patch embedding */
    double mlp_ratio;     /* SwiGLU hidden = int(int(D * ratio) * 2 / 3), pd_jit_mlp_hidden */
    int in_context_len;   /* class tokens prepended (0 = none) */
    int in_context_start; /* block index where they are inserted */
    int num_classes;      /* labels 0..num_classes-1; num_classes = null */
    float proj_dropout;   /* blocks depth//4 <= i < depth//4*3 only, as JiT */
    float attn_dropout;   /* must be 0: the attention plugins take no dropout */
    float t_eps;          /* passed to plugins in pd_model_info */
    float noise_scale;
} pd_jit_config;

struct pd_plugin;

/* The plugins a model runs with (from pd_plugin_load) and their resolved
 * settings (pd_plugin_config_build; NULL = all defaults). */
typedef struct pd_jit_plugins {
    const struct pd_plugin *decoder;
    const pd_plugin_config *decoder_cfg;
    const struct pd_plugin *attention;
    const pd_plugin_config *attention_cfg;
} pd_jit_plugins;

typedef struct pd_jit pd_jit;

/* Validates the config, registers every parameter (official names) and
 * creates the plugins. Parameters are zero until pd_jit_init_weights or a
 * checkpoint load. */
pd_status pd_jit_create(const pd_jit_config *cfg, const pd_jit_plugins *plugins, pd_jit **out);
void pd_jit_free(pd_jit *m);

/* The spec's initialisation (xavier linears, N(0, .02) embeddings, sin-cos
 * pos_embed, zeroed adaLN and final layer): a fresh model outputs 0. */
pd_status pd_jit_init_weights(pd_jit *m, uint64_t seed);

/* x_pred (B, C, H, W) from z (B, C, H, W), t[B] in [0, 1] and labels[B]
 * (num_classes = null). dropout_rng, the training stream, is used only in
 * training mode: by the blocks' dropout, then by the decoder
 * (pd_decoder_inputs.rng). NULL when not training. */
pd_tensor *pd_jit_forward(pd_jit *m, pd_ctx *ctx, pd_tensor *z, const float *t, const int *labels,
                          pd_rng *dropout_rng);

pd_params *pd_jit_params(pd_jit *m);
const pd_jit_config *pd_jit_get_config(const pd_jit *m);
const pd_model_info *pd_jit_info(const pd_jit *m);
/* SwiGLU hidden width, as JiT computes it: int(int(D * ratio) * 2 / 3) in
 * double, Python's arithmetic (float would differ for some ratios, e.g.
 * D 60, ratio 1.05: 42 in JiT, 41 in float). The one formula: config
 * validation and the model both use it. */
int pd_jit_mlp_hidden(const pd_jit_config *cfg);

/* The rules that make a config buildable, in one place for pd_jit_create
 * and config validation (which adds the file:line of the key). Returns
 * NULL when c is fine, else the [model] key at fault (e.g.
 * "in_context_start"), with why it is wrong in why[n], e.g. "must be <
 * [model] depth = 6". Sizes must be >= 1; image_size a multiple of
 * patch_size; hidden_size a multiple of num_heads with a head dim that is
 * a multiple of 4 (2D RoPE; the sin-cos embedding's D % 4 follows);
 * in_context_len >= 0 and, when > 0, 0 <= in_context_start < depth (the
 * class tokens are inserted before that block and removed after the last);
 * a SwiGLU width >= 1; proj_dropout in [0, 1); attn_dropout 0. */
const char *pd_jit_config_problem(const pd_jit_config *c, char *why, size_t n);
/* Forward FLOPs per image (multiply-adds x 2 of every GEMM, attention
 * included, elementwise work excluded), decoder included when it reports
 * its own. */
double pd_jit_flops_per_image(const pd_jit *m);

/* Fills the (N, D) fixed 2D sin-cos table (MAE get_2d_sincos_pos_embed,
 * computed in double, column index in the first half). */
void pd_jit_sincos_pos_embed(float *out, int grid, int dim);
/* Fills (B, 256) timestep features: cos first, then sin; float32 math as
 * torch (freqs = exp(-ln(10000) * k / 128)). */
void pd_jit_timestep_features(float *out, const float *t, int B);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
