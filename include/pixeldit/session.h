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
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

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

/* `--plugin NAME_OR_PATH` is a --set of the plugin's slot: a decoder or
 * attention plugin gives "decoder.plugin=NAME" / "attention.plugin=NAME",
 * a loss plugin "loss.plugin=<the list so far>, NAME" (once). So --plugin
 * and --set KIND.plugin= treat keys alike: a slot whose plugin list changes
 * drops the keys that earlier layers (config files) set in that section;
 * keys given with --set in the same command are kept. A path needs a '/';
 * a bare name is found through the search path (plugin_host.h). */
#define PD_SESSION_SET_MAX 1024
/* Loads each plugin (to learn its kind and name) and writes the
 * assignments (at most 3, one per slot) into out; *n_out gets the count. */
pd_status pd_session_plugin_sets(const pd_config *cfg, const char *const *plugins, int n_plugins,
                                 char out[][PD_SESSION_SET_MAX], int *n_out);
/* The command line's layer: the --plugin assignments, then the --set ones
 * (so an explicit --set wins), applied as one --set layer. */
pd_status pd_session_apply_args(pd_config *cfg, const char *const *plugins, int n_plugins,
                                const char *const *sets, int n_sets);

/* A step context set up for this session's config ([train] fused_kernels).
 * The caller owns it (pd_ctx_free). NULL + PD_ERR_NOMEM on failure. */
pd_ctx *pd_session_new_ctx(const pd_session *s);

/* Loads the plugins, binds their keys, creates the model (weights zero).
 * The slots of s->cfg then hold the plugins' names (never paths), so the
 * config text saved in a checkpoint names plugins only. */
pd_status pd_session_open(pd_session *s, const pd_config *cfg);
/* The same without the loss plugins (n_losses 0; [loss] keys are not
 * bound): all that sampling and `forward` run, so a loss plugin that is
 * missing or changed cannot block them. pd_session_loss is not usable. */
pd_status pd_session_open_model(pd_session *s, const pd_config *cfg);
void pd_session_close(pd_session *s);

/* Training loss for one batch: forms v = (x - z) / max(1 - t, t_eps) and
 * v_pred from x_pred, runs every loss plugin and returns
 * sum_i weight_i * loss_i (scalar). values[i] receives loss i unweighted
 * (values may be NULL). */
pd_tensor *pd_session_loss(pd_session *s, pd_ctx *ctx, pd_tensor *x_pred, pd_tensor *x,
                           pd_tensor *z, const float *t, const int *labels, float *values);

/* The full config as INI, plugin keys included, for checkpoint metadata.
 * Returns a malloc'd string. */
char *pd_session_config_text(const pd_session *s);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
