/* Layers: defaults, then checked assignments (from INI text or --set)
 * applied atomically, preset first, plugin lists next, then the rest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "config_where.h"

void pd_config_defaults(pd_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->decoder.section, sizeof cfg->decoder.section, "decoder");
    snprintf(cfg->loss.section, sizeof cfg->loss.section, "loss");
    snprintf(cfg->attention.section, sizeof cfg->attention.section, "attention");
    char why[256];
    for (int i = 0; i < pd_cfg_n_keys; i++) {
        /* Defaults are checked by test_config; a bad one would stay zero. */
        (void)pd_cfg_value_parse(&pd_cfg_keys[i], pd_cfg_keys[i].def, cfg, why, sizeof why);
        cfg->origin[i] = (pd_config_origin){PD_CONFIG_FROM_DEFAULT, 0};
    }
}

static pd_status unknown_key(const char *where, int section, const char *key) {
    const char *names[PD_CONFIG_MAX_KEYS];
    int n = 0;
    const char *sec = pd_cfg_sections[section].name;
    for (int i = 0; i < pd_cfg_n_keys; i++)
        if (strcmp(pd_cfg_keys[i].section, sec) == 0) names[n++] = pd_cfg_keys[i].name;
    const char *near = pd_config_suggest(key, names, n);
    if (near)
        return pd_fail(PD_ERR_CONFIG, "%s[%s] unknown key '%s' (did you mean '%s'?)", where, sec,
                       key, near);
    char list[512];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < n && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
    return pd_fail(PD_ERR_CONFIG, "%s[%s] unknown key '%s' (keys: %s)", where, sec, key, list);
}

pd_status pd_cfg_items_add(cfg_items *items, int section, const char *key, const char *value,
                           int line, const char *source_name) {
    const char *sec = pd_cfg_sections[section].name;
    char where[512];
    pd_cfg_location(where, sizeof where, source_name, line, sec, key, value);
    int ki = pd_cfg_key_index(sec, key);
    if (ki < 0 && !pd_cfg_sections[section].plugin) return unknown_key(where, section, key);
    if (ki < 0 && strlen(key) >= PD_CONFIG_KEY_MAX)
        return pd_fail(PD_ERR_CONFIG, "%s[%s] key '%s' is longer than %d characters", where, sec,
                       key, PD_CONFIG_KEY_MAX - 1);
    if (strlen(value) >= PD_CONFIG_VALUE_MAX)
        return pd_fail(PD_ERR_CONFIG, "%s[%s] %s: value is longer than %d characters", where, sec,
                       key, PD_CONFIG_VALUE_MAX - 1);
    if (ki >= 0) {
        if (!items->scratch) {
            items->scratch = malloc(sizeof *items->scratch);
            if (!items->scratch) return pd_fail(PD_ERR_NOMEM, "config: out of memory");
            pd_config_defaults(items->scratch);
        }
        char why[384];
        if (!pd_cfg_value_parse(&pd_cfg_keys[ki], value, items->scratch, why, sizeof why)) {
            if (line > 0)
                return pd_fail(PD_ERR_CONFIG, "%s[%s] %s = %s: %s", where, sec, key, value, why);
            return pd_fail(PD_ERR_CONFIG, "%s%s", where, why);
        }
    }
    if (items->n == items->cap) {
        int cap = items->cap ? items->cap * 2 : 32;
        cfg_item *v = realloc(items->v, (size_t)cap * sizeof *v);
        if (!v) return pd_fail(PD_ERR_NOMEM, "config: out of memory");
        items->v = v, items->cap = cap;
    }
    cfg_item *it = &items->v[items->n++];
    it->section = section;
    it->key_index = ki;
    snprintf(it->key, sizeof it->key, "%s", key);
    snprintf(it->value, sizeof it->value, "%s", value);
    it->line = line;
    return PD_OK;
}

void pd_cfg_items_free(cfg_items *items) {
    free(items->v);
    free(items->scratch);
    *items = (cfg_items){0};
}

static bool same_plugins(const pd_config_plugins *a, const pd_config_plugins *b) {
    if (a->n_plugins != b->n_plugins) return false;
    for (int i = 0; i < a->n_plugins; i++)
        if (strcmp(a->plugins[i], b->plugins[i]) != 0) return false;
    return true;
}

/* Sets or replaces a raw key (keeping its first position). */
static pd_status raw_upsert(pd_config_plugins *s, const cfg_item *it, pd_config_origin o,
                            const char *source_name) {
    for (int i = 0; i < s->n_raw; i++) {
        if (strcmp(s->raw[i].key, it->key) == 0) {
            snprintf(s->raw[i].value, sizeof s->raw[i].value, "%s", it->value);
            s->raw[i].origin = o;
            return PD_OK;
        }
    }
    if (s->n_raw == PD_CONFIG_MAX_RAW) {
        char where[512];
        pd_cfg_location(where, sizeof where, source_name, it->line, s->section, it->key, it->value);
        return pd_fail(PD_ERR_CONFIG, "%s[%s] more than %d plugin keys", where, s->section,
                       PD_CONFIG_MAX_RAW);
    }
    pd_config_raw *r = &s->raw[s->n_raw++];
    snprintf(r->key, sizeof r->key, "%s", it->key);
    snprintf(r->value, sizeof r->value, "%s", it->value);
    r->origin = o;
    return PD_OK;
}

static pd_config_plugins *section_plugins(pd_config *cfg, int section) {
    return (pd_config_plugins *)pd_config_plugin_section(cfg, pd_cfg_sections[section].name);
}

static pd_status apply_into(pd_config *cfg, const cfg_items *items, const char *source_name) {
    int src = pd_cfg_source_add(cfg, source_name);
    if (src < 0)
        return pd_fail(PD_ERR_CONFIG, "%s: more than %d config layers", source_name,
                       PD_CONFIG_MAX_SOURCES);
    char why[384];
    /* Pass 0: preset, so explicit [model] keys win wherever they are.
     * Pass 1: plugin lists; a new plugin drops raw keys of earlier layers,
     *         which belonged to the plugin it replaces.
     * Pass 2: everything else, in order (for --set, the last one wins). */
    for (int pass = 0; pass < 3; pass++) {
        for (int i = 0; i < items->n; i++) {
            const cfg_item *it = &items->v[i];
            pd_config_origin o = {src, it->line};
            cfg_type t = it->key_index >= 0 ? pd_cfg_keys[it->key_index].type : CFG_STRING;
            int want = t == CFG_PRESET ? 0 : t == CFG_PLUGINS ? 1 : 2;
            if (want != pass) continue;
            if (it->key_index < 0) {
                pd_status s = raw_upsert(section_plugins(cfg, it->section), it, o, source_name);
                if (s != PD_OK) return s;
                continue;
            }
            const cfg_key *k = &pd_cfg_keys[it->key_index];
            if (t == CFG_PLUGINS) {
                pd_config_plugins *s = pd_cfg_plugins_at(cfg, k), before = *s;
                (void)pd_cfg_value_parse(k, it->value, cfg, why, sizeof why); /* checked */
                if (!same_plugins(&before, s)) s->n_raw = 0;
            } else {
                (void)pd_cfg_value_parse(k, it->value, cfg, why, sizeof why); /* checked */
                if (t == CFG_PRESET && cfg->model.preset[0])
                    pd_cfg_preset_fill(cfg, pd_cfg_preset_find(cfg->model.preset));
            }
            cfg->origin[it->key_index] = o;
        }
    }
    return PD_OK;
}

pd_status pd_cfg_apply_items(pd_config *cfg, const cfg_items *items, const char *source_name) {
    pd_config *tmp = malloc(sizeof *tmp);
    if (!tmp) return pd_fail(PD_ERR_NOMEM, "config: out of memory");
    *tmp = *cfg;
    pd_status s = apply_into(tmp, items, source_name);
    if (s == PD_OK) *cfg = *tmp;
    free(tmp);
    return s;
}
