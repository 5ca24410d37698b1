/* pixeldit/parity.h - a plugin against its reference module (part of the SDK).
 *
 * A reference file is a safetensors file written by a reference
 * implementation (share/pixeldit/python/pixeldit_reference.py writes one
 * from any torch nn.Module, docs/plugins.md section 3). It holds the
 * inputs, the parameters, the output and the gradients of one forward and
 * backward; pd_parity_check runs the plugin's forward and backward on the
 * same inputs and parameters, through the host's checked calls (the calls
 * training makes), and compares the output and every gradient.
 *
 * Metadata (all text):
 *   pixeldit_reference  "1" (this format)
 *   kind                decoder | loss | attention
 *   plugin              the plugin's name (informative: a mismatch is a warning)
 *   image_size, channels, patch_size, hidden_size   the pd_model_info;
 *   num_heads, depth, num_classes, t_eps, noise_scale  optional (1, 1, 10, 0.05, 1)
 *   config              the plugin's settings, "key = value" lines (optional)
 *   scale               attention only: the softmax scale
 * Tensors (F32; F64 and BF16 are converted):
 *   input.NAME   decoder: tokens (B, N, D), t_emb, y_emb, c (B, D), t (B), z (B, C, H, W)
 *                loss:    x_pred, x, z (B, C, H, W), t (B), labels (B) (F32, I32 or I64);
 *                         v and v_pred are made from them as training makes them:
 *                         (x - z) / max(1 - t, t_eps)
 *                attention: q (B, H, N, d), k, v (B, H, M, d)
 *   param.NAME   every parameter the decoder registers, by its full name
 *                ("param.decoder.proj.weight"), and nothing else
 *   output       the forward's result
 *   grad_output  the upstream gradient dL/doutput (decoder, attention;
 *                the loss's is 1), so L = sum(output * grad_output)
 *   grad.input.NAME, grad.param.NAME   dL/d of each; every trainable
 *                parameter needs one, inputs are optional (z, t and the
 *                labels have none in pixeldit)
 *
 * A tensor passes when max |got - ref| <= atol + rtol * max |ref|. */
#ifndef PIXELDIT_PARITY_H
#define PIXELDIT_PARITY_H

#include <stdio.h>

#include "pixeldit/plugin_host.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

typedef struct pd_parity_opts {
    double rtol;   /* relative to the reference tensor's largest |value| (default 1e-5) */
    double atol;   /* absolute floor (default 1e-7) */
    FILE *report;  /* one line per tensor, then a summary; NULL: silent */
} pd_parity_opts;

pd_parity_opts pd_parity_defaults(void);

typedef struct pd_parity_result {
    int tensors;   /* compared */
    int failed;    /* over tolerance, or non-finite */
    int warnings;  /* gradients identically zero on both sides */
    double worst;  /* largest max|got - ref| / tolerance (<= 1 passes) */
} pd_parity_result;

/* Loads plugin `name_or_path` (the kind the file names), builds its config
 * from the file's `config` metadata and then `settings` (later wins),
 * creates it, loads the file's inputs and parameters, runs forward and
 * backward and compares. PD_OK when every tensor passes; PD_ERR_NUMERIC
 * naming the plugin and the first tensor that differs; PD_ERR_FORMAT /
 * PD_ERR_SHAPE for a malformed reference, naming file and tensor;
 * PD_ERR_PLUGIN for a refused plugin or one whose output reaches none of
 * its parameters. result may be NULL. The plugin stays loaded. */
pd_status pd_parity_check(const char *name_or_path, const char *ref_path,
                          const pd_plugin_setting *settings, int n_settings,
                          const pd_parity_opts *opts, pd_parity_result *result);

/* After a backward: the trainable parameters of p whose name starts with
 * prefix (NULL: all) and whose gradient is identically zero. Returns how
 * many; writes their names, comma-separated, into names (may be NULL,
 * snprintf-style truncation). *n_trainable (optional) gets how many
 * trainable parameters matched the prefix. */
int pd_params_zero_grads(const pd_params *p, const char *prefix, char *names, size_t cap,
                         int *n_trainable);

/* A loss plugin's inputs made from x_pred exactly as training makes them
 * (the same function): v = (x - z) / max(1 - t, t_eps) without gradient,
 * v_pred the same formula on x_pred; x_pred, x, z (B, C, H, W), t (B)
 * host floats, labels (B). For loss tests: pass the result to
 * pd_plugin_loss_forward, the checked call training makes. Returns the
 * ctx's status (the error is in ctx). */
pd_status pd_loss_inputs_for(pd_ctx *ctx, pd_tensor *x_pred, pd_tensor *x, pd_tensor *z,
                             const float *t, const int *labels, float t_eps, pd_loss_inputs *out);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
