/* pixeldit/session.h - a model with its plugins, built from a config.
 *
 * The session resolves the [decoder], [loss] and [attention] sections to
 * loaded plugins with their settings, builds the JiT backbone around them,
 * and computes the combined training loss. Training, sampling, `forward`
 * and `info` all start from one.
 */
#ifndef PIXELDIT_SESSION_H
#define PIXELDIT_SESSION_H

#include "pixeldit/config.h"
#include "pixeldit/jit.h"
#include "pixeldit/plugin_host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PD_SESSION_MAX_LOSSES 4

typedef struct pd_session {
    pd_config cfg;                   /* resolved, validated */
    pd_plugin *decoder, *attention;
    pd_plugin_config *decoder_cfg, *attention_cfg;
    int n_losses;
    pd_plugin *loss[PD_SESSION_MAX_LOSSES];
    pd_plugin_config *loss_cfg[PD_SESSION_MAX_LOSSES];
    void *loss_state[PD_SESSION_MAX_LOSSES];
    float loss_weight[PD_SESSION_MAX_LOSSES];
    /* named parts each loss reported in the last pd_session_loss (unweighted;
     * logged as log.csv columns "loss_name.part" and on the progress line) */
    pd_loss_parts loss_parts[PD_SESSION_MAX_LOSSES];
    pd_jit *model;
    char plugins_desc[512];          /* "decoder=name@ver;attention=...;loss=..." */
} pd_session;

/* Puts a plugin given on the command line (`--plugin path.so`) into the
 * config slot of its kind: it replaces the decoder or attention plugin and
 * is added to the list of losses. */
pd_status pd_session_add_plugin_arg(pd_config *cfg, const char *name_or_path);

/* A step context set up for this session's config ([train] fused_kernels).
 * The caller owns it (pd_ctx_free). NULL + PD_ERR_NOMEM on failure. */
pd_ctx *pd_session_new_ctx(const pd_session *s);

/* Loads the plugins, binds their keys, creates the model (weights zero). */
pd_status pd_session_open(pd_session *s, const pd_config *cfg);
void pd_session_close(pd_session *s);

/* The JiT model config implied by a pd_config. */
void pd_session_jit_config(const pd_config *cfg, pd_jit_config *out);

/* Training loss for one batch: forms v = (x - z) / max(1 - t, t_eps) and
 * v_pred from x_pred, runs every loss plugin and returns
 * sum_i weight_i * loss_i (scalar). values[i] receives loss i unweighted
 * (values may be NULL). */
pd_tensor *pd_session_loss(pd_session *s, pd_ctx *ctx, pd_tensor *x_pred, pd_tensor *x,
                           pd_tensor *z, const float *t, const int *labels, float *values);

/* The full config as INI, plugin keys included, for checkpoint metadata.
 * Returns a malloc'd string. */
char *pd_session_config_text(const pd_session *s);

#ifdef __cplusplus
}
#endif
#endif
