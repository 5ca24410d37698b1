/* Glue between pd_config's raw plugin-section keys and the plugins loaded
 * for that section: routes each key to its plugin (NAME.key or the only
 * plugin declaring it), checks the value with pd_config's wording, then
 * builds one pd_plugin_config per plugin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_where.h"
#include "plugin_internal.h"

#define MAX_UNION_KEYS (PD_CONFIG_MAX_PLUGINS * (PD_PLUGIN_MAX_KEYS + 1))

/* Plain key names of all plugins, without repeats (for "its keys"). */
static int key_union(pd_plugin *const *pls, int n, const char **names, int cap) {
    int m = 0;
    for (int p = 0; p < n; p++)
        for (int i = 0; i < pd_plugin_key_count(pls[p]); i++) {
            const char *k = pd_plugin_key_at(pls[p], i)->name;
            bool seen = false;
            for (int j = 0; j < m && !seen; j++) seen = strcmp(names[j], k) == 0;
            if (!seen && m < cap) names[m++] = k;
        }
    return m;
}

static void plugin_list(pd_plugin *const *pls, int n, const char *sep, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int p = 0; p < n && used < cap; p++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", p ? sep : "", pls[p]->desc.name);
}

/* The location of a raw entry as a bare prefix ("cfg.ini:14: " or
 * "--set decoder.w=3: "), for messages about the key rather than its value. */
static void raw_at(const pd_config *cfg, const pd_config_plugins *sec, const pd_config_raw *e, char *out,
                   size_t cap) {
    bool layer = e->origin.line > 0 || e->origin.source >= 0; /* not a default */
    pd_cfg_location(out, cap, layer ? pd_config_origin_name(cfg, e->origin) : NULL, e->origin.line,
                    sec->section, e->key, e->value);
}

/* Finds the plugin and the plain key an entry addresses, or fails with the
 * entry's location. */
static pd_status route(const pd_config *cfg, const pd_config_plugins *sec, const pd_config_raw *e,
                       pd_plugin *const *pls, int n, int *which, const char **key) {
    char names[512], at[512];
    raw_at(cfg, sec, e, at, sizeof at);
    const char *dot = strchr(e->key, '.');
    if (dot) { /* NAME.key */
        size_t len = (size_t)(dot - e->key);
        for (int p = 0; p < n; p++)
            if (strlen(pls[p]->desc.name) == len && strncmp(pls[p]->desc.name, e->key, len) == 0) {
                *which = p, *key = dot + 1;
                if (pd_plugin_key_find(pls[p], *key)) return PD_OK;
                const char *keys[PD_PLUGIN_MAX_KEYS + 1];
                int nk = key_union(&pls[p], 1, keys, PD_PLUGIN_MAX_KEYS + 1);
                return pd_plugin_unknown_key(at, sec->section, e->key, pls[p]->desc.name, keys, nk);
            }
        plugin_list(pls, n, ", ", names, sizeof names);
        return pd_config_fail_raw(cfg, sec, e, "no plugin '%.*s' in [%s] (its plugins: %s)",
                                  (int)len, e->key, sec->section, names);
    }
    int found = -1;
    for (int p = 0; p < n; p++) {
        if (!pd_plugin_key_find(pls[p], e->key)) continue;
        if (found >= 0)
            return pd_config_fail_raw(cfg, sec, e,
                                      "key '%s' is ambiguous: plugins %s and %s both have it; "
                                      "write %s.%s or %s.%s",
                                      e->key, pls[found]->desc.name, pls[p]->desc.name,
                                      pls[found]->desc.name, e->key, pls[p]->desc.name, e->key);
        found = p;
    }
    if (found < 0) {
        const char *keys[MAX_UNION_KEYS];
        int nk = key_union(pls, n, keys, MAX_UNION_KEYS);
        plugin_list(pls, n, " or ", names, sizeof names);
        return pd_plugin_unknown_key(at, sec->section, e->key, names, keys, nk);
    }
    *which = found, *key = e->key;
    return PD_OK;
}

pd_status pd_plugin_config_from_section(const pd_config *cfg, const pd_config_plugins *sec,
                                        pd_plugin *const *plugins, int n_plugins,
                                        pd_plugin_config **out) {
    if (!cfg || !sec || !plugins || !out || n_plugins < 1 || n_plugins > PD_CONFIG_MAX_PLUGINS)
        return pd_fail(PD_ERR_ARG, "plugin_config_from_section: bad arguments (%d plugins)",
                       n_plugins);
    for (int p = 0; p < n_plugins; p++) {
        out[p] = NULL;
        if (!plugins[p]) return pd_fail(PD_ERR_ARG, "plugin_config_from_section: plugin %d is NULL", p);
    }
    pd_plugin_setting set[PD_CONFIG_MAX_PLUGINS][PD_CONFIG_MAX_RAW];
    pd_key_value val[PD_CONFIG_MAX_PLUGINS][PD_CONFIG_MAX_RAW]; /* set's values, parsed here only */
    int n_set[PD_CONFIG_MAX_PLUGINS] = {0};
    char why[256];
    for (int i = 0; i < sec->n_raw && i < PD_CONFIG_MAX_RAW; i++) {
        const pd_config_raw *e = &sec->raw[i];
        int which = 0;
        const char *key = NULL;
        pd_status s = route(cfg, sec, e, plugins, n_plugins, &which, &key);
        if (s) return s;
        if (!pd_key_parse(pd_plugin_key_find(plugins[which], key), e->value, &val[which][n_set[which]], why,
                          sizeof why))
            return pd_config_fail_raw(cfg, sec, e, "%s", why);
        set[which][n_set[which]++] = (pd_plugin_setting){
            key, e->value, pd_config_origin_name(cfg, e->origin), e->origin.line};
    }
    for (int p = 0; p < n_plugins; p++) {
        pd_status s = pd_plugin_config_build_parsed(plugins[p], sec->section, set[p], val[p], n_set[p],
                                                    &out[p]);
        if (s) {
            for (int q = 0; q < p; q++) pd_plugin_config_free(out[q]), out[q] = NULL;
            return s;
        }
    }
    return PD_OK;
}
