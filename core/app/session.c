/* A session: plugins resolved from the config, the model built around
 * them, and the combined loss. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/ops.h"
#include "pixeldit/plugin_record.h"
#include "pixeldit/session.h"
#include "pixeldit/train.h"
#include "train/loss_inputs.h"

/* The loss list as a --set value: "v_loss, freq_loss". */
static void loss_assignment(char names[][PD_CONFIG_VALUE_MAX], int n, char *out, size_t cap) {
    size_t o = (size_t)snprintf(out, cap, "loss.plugin=");
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", names[i]);
}

pd_status pd_session_plugin_sets(const pd_config *cfg, const char *const *args, int n_args,
                                 char out[][PD_SESSION_SET_MAX], int *n_out) {
    char losses[PD_CONFIG_MAX_PLUGINS][PD_CONFIG_VALUE_MAX];
    int n_losses = cfg->loss.n_plugins, slot[3] = {-1, -1, -1};
    for (int i = 0; i < n_losses; i++) snprintf(losses[i], sizeof losses[i], "%s", cfg->loss.plugins[i]);
    *n_out = 0;
    for (int i = 0; i < n_args; i++) {
        pd_plugin *pl;
        pd_status s = pd_plugin_load(args[i], 0, &pl);
        if (s) return s;
        const char *name = pd_plugin_name(pl);
        pd_plugin_kind kind = pd_plugin_get_kind(pl);
        int k = (int)kind - 1; /* one assignment per slot, the last wins */
        if (slot[k] < 0) slot[k] = (*n_out)++;
        char *o = out[slot[k]];
        if (kind == PD_PLUGIN_DECODER || kind == PD_PLUGIN_ATTENTION) {
            snprintf(o, PD_SESSION_SET_MAX, "%s.plugin=%s", pd_plugin_kind_name(kind), name);
            continue;
        }
        bool listed = false; /* a loss is added to the list once */
        for (int j = 0; j < n_losses; j++) listed |= strcmp(losses[j], name) == 0;
        if (!listed) {
            if (n_losses == PD_CONFIG_MAX_PLUGINS)
                return pd_fail(PD_ERR_CONFIG, "--plugin %s: at most %d loss plugins", args[i],
                               PD_CONFIG_MAX_PLUGINS);
            snprintf(losses[n_losses++], sizeof losses[0], "%s", name);
        }
        loss_assignment(losses, n_losses, o, PD_SESSION_SET_MAX);
    }
    return PD_OK;
}

pd_status pd_session_apply_args(pd_config *cfg, const char *const *plugins, int n_plugins,
                                const char *const *sets, int n_sets) {
    if (n_sets < 0 || n_plugins < 0 || n_sets > 256)
        return pd_fail(PD_ERR_ARG, "pd_session_apply_args: bad counts");
    char plugin_sets[3][PD_SESSION_SET_MAX];
    int np = 0;
    pd_status s = pd_session_plugin_sets(cfg, plugins, n_plugins, plugin_sets, &np);
    if (s) return s;
    const char *all[3 + 256];
    for (int i = 0; i < np; i++) all[i] = plugin_sets[i];
    for (int i = 0; i < n_sets; i++) all[np + i] = sets[i];
    return np + n_sets ? pd_config_set_all(cfg, all, np + n_sets) : PD_OK;
}

static pd_status load_slot(const pd_config_plugins *sec, int i, pd_plugin_kind kind, pd_plugin **out) {
    pd_status s = pd_plugin_load(sec->plugins[i], kind, out);
    if (s) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pd_last_error());
        return pd_fail(s, "[%s] plugin = %s: %s", sec->section, sec->plugins[i], msg);
    }
    return PD_OK;
}

/* Writes the loaded plugin's name over the name or path its slot held, so
 * the config saved in a checkpoint names plugins, never files. */
static void slot_to_name(pd_config_plugins *sec, int i, const pd_plugin *pl) {
    snprintf(sec->plugins[i], sizeof sec->plugins[i], "%s", pd_plugin_name(pl));
}

static pd_status open_session(pd_session *s, const pd_config *cfg, bool with_losses) {
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    pd_status st = pd_config_validate(cfg);
    if (st) return st;
    if (cfg->loss.n_plugins < 1 || cfg->loss.n_plugins > PD_SESSION_MAX_LOSSES)
        return pd_fail(PD_ERR_CONFIG, "[loss] needs 1..%d plugins, got %d", PD_SESSION_MAX_LOSSES,
                       cfg->loss.n_plugins);
    if ((st = load_slot(&cfg->decoder, 0, PD_PLUGIN_DECODER, &s->decoder))) goto fail;
    if ((st = load_slot(&cfg->attention, 0, PD_PLUGIN_ATTENTION, &s->attention))) goto fail;
    slot_to_name(&s->cfg.decoder, 0, s->decoder);
    slot_to_name(&s->cfg.attention, 0, s->attention);
    s->n_losses = with_losses ? cfg->loss.n_plugins : 0;
    for (int i = 0; i < s->n_losses; i++) {
        if ((st = load_slot(&cfg->loss, i, PD_PLUGIN_LOSS, &s->loss[i]))) goto fail;
        slot_to_name(&s->cfg.loss, i, s->loss[i]);
    }
    /* the same loss twice (by name and by path, say) would silently count twice */
    for (int i = 0; i < s->n_losses; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(pd_plugin_name(s->loss[i]), pd_plugin_name(s->loss[j]))) {
                st = pd_fail(PD_ERR_CONFIG, "[loss] plugin lists the loss '%s' twice (%s and %s); "
                             "use its weight key to scale it", pd_plugin_name(s->loss[i]),
                             cfg->loss.plugins[j], cfg->loss.plugins[i]);
                goto fail;
            }
    if ((st = pd_plugin_config_from_section(cfg, &cfg->decoder, &s->decoder,
                                             1, &s->decoder_cfg)))
        goto fail;
    if ((st = pd_plugin_config_from_section(cfg, &cfg->attention,
                                             &s->attention, 1, &s->attention_cfg)))
        goto fail;
    if (s->n_losses && (st = pd_plugin_config_from_section(cfg, &cfg->loss, s->loss,
                                                            s->n_losses, s->loss_cfg)))
        goto fail;
    for (int i = 0; i < s->n_losses; i++) s->loss_weight[i] = (float)pd_plugin_config_weight(s->loss_cfg[i]);

    pd_jit_config jc;
    pd_config_jit(cfg, &jc);
    pd_jit_plugins plugins = {s->decoder, s->decoder_cfg, s->attention, s->attention_cfg};
    if ((st = pd_jit_create(&jc, &plugins, &s->model))) goto fail;
    for (int i = 0; i < s->n_losses; i++)
        if ((st = pd_plugin_create_loss(s->loss[i], pd_jit_info(s->model), s->loss_cfg[i],
                                        &s->loss_state[i]))) {
            s->loss[i] = NULL; /* nothing to destroy */
            goto fail;
        }

    pd_plugin_record rec;
    pd_plugin_record_of(s, &rec);
    pd_plugin_record_format(&rec, s->plugins_desc, sizeof s->plugins_desc);
    return PD_OK;
fail:
    pd_session_close(s);
    return st;
}

pd_status pd_session_open(pd_session *s, const pd_config *cfg) {
    return open_session(s, cfg, true);
}

pd_status pd_session_open_model(pd_session *s, const pd_config *cfg) {
    return open_session(s, cfg, false);
}

void pd_session_close(pd_session *s) {
    for (int i = 0; i < s->n_losses; i++) {
        if (s->loss[i] && s->loss_state[i]) pd_plugin_loss_vtable(s->loss[i])->destroy(s->loss_state[i]);
        pd_plugin_config_free(s->loss_cfg[i]);
    }
    pd_jit_free(s->model);
    pd_plugin_config_free(s->decoder_cfg);
    pd_plugin_config_free(s->attention_cfg);
    memset(s, 0, sizeof *s);
}

pd_tensor *pd_session_loss(pd_session *s, pd_ctx *ctx, pd_tensor *x_pred, pd_tensor *x,
                           pd_tensor *z, const float *t, const int *labels, float *values) {
    if (!x_pred || pd_ctx_status(ctx)) return NULL;
    pd_loss_inputs in;
    if (pd_loss_inputs_make(ctx, x_pred, x, z, t, labels, (float)s->cfg.diffusion.t_eps, &in))
        return NULL;
    pd_tensor *total = NULL;
    for (int i = 0; i < s->n_losses; i++) {
        pd_tensor *l = pd_plugin_loss_forward(s->loss[i], s->loss_state[i], ctx, &in,
                                              &s->loss_parts[i]); /* scalar, checked */
        if (!l) return NULL;
        if (values) values[i] = l->data[0];
        if (s->loss_weight[i] != 1.0f) l = pd_affine(ctx, l, s->loss_weight[i], 0.0f);
        total = total ? pd_add(ctx, total, l) : l;
    }
    return total;
}

char *pd_session_config_text(const pd_session *s) {
    size_t n = pd_config_to_ini(&s->cfg, NULL, 0);
    char *buf = malloc(n + 1);
    if (buf) pd_config_to_ini(&s->cfg, buf, n + 1);
    return buf;
}

pd_ctx *pd_session_new_ctx(const pd_session *s) {
    pd_ctx *ctx = pd_ctx_new(0);
    if (ctx) pd_ctx_set_fused(ctx, s->cfg.train.fused_kernels);
    return ctx;
}
