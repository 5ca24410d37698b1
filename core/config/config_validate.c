/* Cross-field checks: the keys are each in range (the parser saw to that);
 * here they must also fit together. Messages name every key involved. */
#include <math.h>
#include <string.h>

#include "config_internal.h"
#include "pixeldit/jit.h"
#include "pixeldit/limits.h"

#define KEY(sec, name) pd_cfg_key_index(sec, name)

void pd_config_jit(const pd_config *cfg, pd_jit_config *o) {
    const pd_config_model *m = &cfg->model;
    *o = (pd_jit_config){
        .image_size = m->image_size,
        .channels = m->channels,
        .patch_size = m->patch_size,
        .hidden_size = m->hidden_size,
        .depth = m->depth,
        .num_heads = m->num_heads,
        .bottleneck_dim = m->bottleneck_dim,
        .mlp_ratio = m->mlp_ratio,
        .in_context_len = m->in_context_len,
        .in_context_start = m->in_context_start,
        .num_classes = m->num_classes,
        .proj_dropout = (float)m->proj_dropout,
        .attn_dropout = (float)m->attn_dropout,
        .t_eps = (float)cfg->diffusion.t_eps,
        .noise_scale = (float)cfg->diffusion.noise_scale,
    };
}

/* The model's own rules (the ones pd_jit_create applies), with the key's
 * file:line. */
static pd_status check_model(const pd_config *cfg) {
    pd_jit_config jc;
    pd_config_jit(cfg, &jc);
    char why[320];
    const char *key = pd_jit_config_problem(&jc, why, sizeof why);
    if (key) return pd_cfg_fail_key_index(cfg, KEY("model", key), "%s", why);
    /* sizes within limits.h and the parameters within memory */
    return pd_limits_check_jit(&jc);
}

static pd_status check_train_sample(const pd_config *cfg) {
    if (cfg->train.lr == 0 && cfg->train.blr == 0)
        return pd_cfg_fail_key_index(cfg, KEY("train", "blr"),
                                     "must be > 0 when [train] lr = 0 (one of them sets the "
                                     "learning rate)");
    const char *why = pd_precision_problem(cfg->train.precision);
    if (why) return pd_cfg_fail_key_index(cfg, KEY("train", "precision"), "%s", why);
    if (cfg->sample.cfg_interval_low > cfg->sample.cfg_interval_high)
        return pd_cfg_fail_key_index(cfg, KEY("sample", "cfg_interval_low"),
                                     "must be <= [sample] cfg_interval_high = %g",
                                     cfg->sample.cfg_interval_high);
    return PD_OK;
}

static pd_status check_plugins(const pd_config *cfg) {
    const pd_config_plugins *secs[] = {&cfg->decoder, &cfg->loss, &cfg->attention};
    for (int i = 0; i < 3; i++) {
        if (secs[i]->n_plugins < 1)
            return pd_cfg_fail_key_index(cfg, KEY(secs[i]->section, "plugin"),
                                         "names no plugin");
        if (secs[i] != &cfg->loss && secs[i]->n_plugins > 1)
            return pd_cfg_fail_key_index(cfg, KEY(secs[i]->section, "plugin"),
                                         "expected one plugin");
    }
    /* a loss listed twice would silently count twice */
    for (int i = 0; i < cfg->loss.n_plugins; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(cfg->loss.plugins[i], cfg->loss.plugins[j]))
                return pd_cfg_fail_key_index(cfg, KEY("loss", "plugin"), "lists '%s' twice",
                                             cfg->loss.plugins[i]);
    return PD_OK;
}

/* Code may fill a pd_config directly, so ranges are checked again here
 * before anything divides by them. */
static pd_status check_ranges(const pd_config *cfg) {
    char why[384];
    for (int i = 0; i < pd_cfg_n_keys; i++)
        if (!pd_cfg_value_check(&pd_cfg_keys[i], cfg, why, sizeof why))
            return pd_cfg_fail_key_index(cfg, i, "%s", why);
    return PD_OK;
}

pd_status pd_config_validate(const pd_config *cfg) {
    if (!cfg) return pd_fail(PD_ERR_ARG, "pd_config_validate: cfg is NULL");
    pd_status s = check_ranges(cfg);
    if (s == PD_OK) s = check_model(cfg);
    if (s == PD_OK) s = check_train_sample(cfg);
    if (s == PD_OK) s = check_plugins(cfg);
    return s;
}

double pd_config_lr(const pd_config *cfg) {
    if (cfg->train.lr > 0) return cfg->train.lr;
    return cfg->train.blr * cfg->train.batch_size / 256.0;
}

long pd_config_warmup_steps(const pd_config *cfg, long steps_per_epoch) {
    if (cfg->train.warmup_steps > 0) return cfg->train.warmup_steps;
    return lround(cfg->train.warmup_epochs * (double)steps_per_epoch);
}
