/* Creating plugin instances. The host API table is one static table shared
 * by all plugins, so param_add cannot tell from its arguments who calls
 * it; instead the create wrappers open a per-thread registration scope
 * (plugin, params, prefix) around the plugin's create(), and param_add
 * accepts only that params object and names under that prefix. Outside a
 * create() it refuses everything: parameters must exist before a
 * checkpoint is loaded or the optimizer is built. */
#include <stdio.h>
#include <string.h>

#include "plugin_internal.h"

typedef struct param_scope {
    const pd_plugin *plugin;
    pd_params *params;      /* NULL for losses and attention */
    const char *prefix;
    char violation[384];    /* first refused or failed param_add */
    struct param_scope *outer;
} param_scope;

static _Thread_local param_scope *g_scope;

const char *pd_plugin_current_name(void) { return g_scope ? g_scope->plugin->desc.name : NULL; }

static void violate(param_scope *sc, const char *msg) {
    if (!sc->violation[0]) snprintf(sc->violation, sizeof sc->violation, "%s", msg);
}

pd_tensor *pd_plugin_host_param_add(pd_params *p, const char *name, const int *shape, int ndim,
                                    unsigned flags) {
    param_scope *sc = g_scope;
    const char *nm = name ? name : "(null)";
    if (!sc) {
        pd_fail(PD_ERR_PLUGIN, "param_add('%s'): only allowed inside a decoder's create()", nm);
        return NULL;
    }
    if (!sc->params) {
        pd_fail(PD_ERR_PLUGIN, "plugin %s: param_add('%s'): %s plugins own no parameters",
                sc->plugin->desc.name, nm, pd_plugin_kind_name(sc->plugin->desc.kind));
    } else if (p != sc->params) {
        pd_fail(PD_ERR_PLUGIN, "plugin %s: param_add('%s'): params is not the one given to create()",
                sc->plugin->desc.name, nm);
    } else if (!name || strncmp(name, sc->prefix, strlen(sc->prefix)) != 0 ||
               !name[strlen(sc->prefix)]) {
        pd_fail(PD_ERR_PLUGIN, "plugin %s: parameter name '%s': expected it to start with '%s'",
                sc->plugin->desc.name, nm, sc->prefix);
    } else {
        pd_tensor *t = pd_params_add(p, name, shape, ndim, flags);
        if (t) return t;
    }
    violate(sc, pd_last_error());
    return NULL;
}

/* Words a create() failure: the plugin's own message when it set one. */
static pd_status create_failed(const pd_plugin *pl, pd_status s, const char *why) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", why && *why ? why : pd_status_name(s));
    return pd_fail(s == PD_ERR_NOMEM ? s : PD_ERR_PLUGIN, "plugin %s (%s): create failed: %s",
                   pl->desc.name, pl->path, msg);
}

static pd_status check_args(const pd_plugin *pl, pd_plugin_kind kind, const pd_model_info *info,
                            const pd_plugin_config *cfg, void **state) {
    if (!pl || !state || !info)
        return pd_fail(PD_ERR_ARG, "plugin_create: %s is NULL",
                       !pl ? "plugin" : !state ? "state" : "info");
    *state = NULL;
    if (pl->desc.kind != kind)
        return pd_fail(PD_ERR_ARG, "plugin_create: plugin %s is a %s, not a %s", pl->desc.name,
                       pd_plugin_kind_name(pl->desc.kind), pd_plugin_kind_name(kind));
    if (cfg && pd_plugin_config_plugin(cfg) != pl)
        return pd_fail(PD_ERR_ARG, "plugin_create: the config was built for plugin %s, not %s",
                       pd_plugin_name(pd_plugin_config_plugin(cfg)), pl->desc.name);
    return PD_OK;
}

/* Runs one create() inside a scope; cfg NULL means defaults. */
static pd_status run_create(const pd_plugin *pl, const pd_model_info *info,
                            const pd_plugin_config *cfg, pd_params *params, void **state) {
    pd_plugin_config *defaults = NULL;
    if (!cfg) {
        pd_status s = pd_plugin_config_build(pl, NULL, NULL, 0, &defaults);
        if (s) return s;
        cfg = defaults;
    }
    pd_plugin_config_clear_misuse(cfg);
    param_scope sc = {pl, params, pl->prefix, "", g_scope};
    const pd_host_api *host = pd_host_api_get();
    pd_clear_error();
    g_scope = &sc;
    pd_status s;
    switch (pl->desc.kind) {
    case PD_PLUGIN_DECODER: s = pl->vt.decoder.create(host, info, cfg, params, state); break;
    case PD_PLUGIN_LOSS: s = pl->vt.loss.create(host, info, cfg, state); break;
    default: s = pl->vt.attention.create(host, info, cfg, state); break;
    }
    g_scope = sc.outer;

    char why[512];
    snprintf(why, sizeof why, "%s", pd_plugin_config_misuse(cfg));
    pd_plugin_config_free(defaults);
    /* a refused param_add is the root cause of whatever followed */
    if (s) return create_failed(pl, s, sc.violation[0] ? sc.violation : pd_last_error());
    if (!sc.violation[0] && !why[0]) return PD_OK;
    /* create() claimed success after a refused call: undo it */
    switch (pl->desc.kind) {
    case PD_PLUGIN_DECODER: pl->vt.decoder.destroy(*state); break;
    case PD_PLUGIN_LOSS: pl->vt.loss.destroy(*state); break;
    default: pl->vt.attention.destroy(*state); break;
    }
    *state = NULL;
    return create_failed(pl, PD_ERR_PLUGIN, sc.violation[0] ? sc.violation : why);
}

pd_status pd_plugin_create_decoder(const pd_plugin *pl, const pd_model_info *info,
                                   const pd_plugin_config *cfg, pd_params *params, void **state) {
    pd_status s = check_args(pl, PD_PLUGIN_DECODER, info, cfg, state);
    if (s) return s;
    if (!params) return pd_fail(PD_ERR_ARG, "plugin_create: params is NULL for decoder %s",
                                pl->desc.name);
    return run_create(pl, info, cfg, params, state);
}

pd_status pd_plugin_create_loss(const pd_plugin *pl, const pd_model_info *info,
                                const pd_plugin_config *cfg, void **state) {
    pd_status s = check_args(pl, PD_PLUGIN_LOSS, info, cfg, state);
    return s ? s : run_create(pl, info, cfg, NULL, state);
}

pd_status pd_plugin_create_attention(const pd_plugin *pl, const pd_model_info *info,
                                     const pd_plugin_config *cfg, void **state) {
    pd_status s = check_args(pl, PD_PLUGIN_ATTENTION, info, cfg, state);
    return s ? s : run_create(pl, info, cfg, NULL, state);
}
