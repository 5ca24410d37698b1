/* Plugin sections' raw keys, layer names, and messages that say where a
 * value was set ("small.ini:7: [model] patch_size = 3: ..."). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "config_where.h"

int pd_cfg_source_add(pd_config *cfg, const char *name) {
    for (int i = 0; i < cfg->n_sources; i++)
        if (strncmp(cfg->sources[i], name, sizeof cfg->sources[i] - 1) == 0) return i;
    if (cfg->n_sources == PD_CONFIG_MAX_SOURCES) return -1;
    snprintf(cfg->sources[cfg->n_sources], sizeof cfg->sources[0], "%s", name);
    return cfg->n_sources++;
}

const char *pd_config_origin_name(const pd_config *cfg, pd_config_origin o) {
    if (o.source == PD_CONFIG_FROM_DEFAULT) return "default";
    if (o.source == PD_CONFIG_FROM_PRESET) return "preset";
    if (!cfg || o.source < 0 || o.source >= cfg->n_sources) return "?";
    return cfg->sources[o.source];
}

void pd_cfg_location(char *out, size_t cap, const char *source, int line, const char *section,
                     const char *key, const char *value) {
    if (!source)
        snprintf(out, cap, "%s", "");
    else if (line > 0)
        snprintf(out, cap, "%s:%d: ", source, line);
    else if (section && key)
        snprintf(out, cap, "%s %s.%s=%s: ", source, section, key, value ? value : "");
    else
        snprintf(out, cap, "%s: ", source);
}

void pd_cfg_where(const pd_config *cfg, pd_config_origin o, const char *section, const char *key,
                  const char *value, char *out, size_t cap) {
    if (o.source == PD_CONFIG_FROM_DEFAULT) {
        snprintf(out, cap, "[%s] %s = %s (default): ", section, key, value);
    } else if (o.source == PD_CONFIG_FROM_PRESET) {
        snprintf(out, cap, "[%s] %s = %s (from preset %s): ", section, key, value,
                 cfg->model.preset);
    } else {
        /* a file line also shows the setting, which the line alone does not */
        pd_cfg_location(out, cap, pd_config_origin_name(cfg, o), o.line, section, key, value);
        if (o.line > 0) {
            size_t used = strlen(out);
            if (used < cap) snprintf(out + used, cap - used, "[%s] %s = %s: ", section, key, value);
        }
    }
}

static pd_status vfail_where(const char *where, const char *fmt, va_list ap) {
    char text[768];
    vsnprintf(text, sizeof text, fmt, ap);
    return pd_fail(PD_ERR_CONFIG, "%s%s", where, text);
}

pd_status pd_cfg_vfail_key_index(const pd_config *cfg, int key_index, const char *fmt, va_list ap) {
    const cfg_key *k = &pd_cfg_keys[key_index];
    char value[PD_CONFIG_VALUE_MAX * 2], where[512];
    pd_cfg_value_format(k, cfg, false, value, sizeof value);
    pd_cfg_where(cfg, cfg->origin[key_index], k->section, k->name, value, where, sizeof where);
    return vfail_where(where, fmt, ap);
}

pd_status pd_cfg_fail_key_index(const pd_config *cfg, int key_index, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pd_status s = pd_cfg_vfail_key_index(cfg, key_index, fmt, ap);
    va_end(ap);
    return s;
}

pd_status pd_config_fail_key(const pd_config *cfg, const char *section, const char *key,
                             const char *fmt, ...) {
    int i = cfg && section && key ? pd_cfg_key_index(section, key) : -1;
    if (i < 0)
        return pd_fail(PD_ERR_ARG, "pd_config_fail_key: no typed key [%s] %s",
                       section ? section : "(null)", key ? key : "(null)");
    va_list ap;
    va_start(ap, fmt);
    pd_status s = pd_cfg_vfail_key_index(cfg, i, fmt, ap);
    va_end(ap);
    return s;
}

pd_status pd_config_fail_raw(const pd_config *cfg, const pd_config_plugins *sec,
                             const pd_config_raw *entry, const char *fmt, ...) {
    if (!cfg || !sec || !entry) return pd_fail(PD_ERR_ARG, "pd_config_fail_raw: NULL argument");
    char where[512];
    pd_cfg_where(cfg, entry->origin, sec->section, entry->key, entry->value, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    pd_status s = vfail_where(where, fmt, ap);
    va_end(ap);
    return s;
}

const pd_config_plugins *pd_config_plugin_section(const pd_config *cfg, const char *section) {
    if (!cfg || !section) return NULL;
    if (strcmp(section, "decoder") == 0) return &cfg->decoder;
    if (strcmp(section, "loss") == 0) return &cfg->loss;
    if (strcmp(section, "attention") == 0) return &cfg->attention;
    return NULL;
}

const pd_config_raw *pd_config_raw_find(const pd_config_plugins *sec, const char *key) {
    if (!sec || !key) return NULL;
    for (int i = 0; i < sec->n_raw; i++)
        if (strcmp(sec->raw[i].key, key) == 0) return &sec->raw[i];
    return NULL;
}
