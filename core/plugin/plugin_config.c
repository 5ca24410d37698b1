/* A plugin's resolved config: its declared keys bound to defaults and the
 * user's settings, parsed and checked by type; the cfg_* accessors plugins
 * read it with; and its serialisation for checkpoint metadata. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_where.h"
#include "plugin_internal.h"

typedef struct bound_key {
    const pd_plugin_key *key;
    char text[PD_PLUGIN_VALUE_MAX]; /* as written, or the default */
    pd_key_value value;
} bound_key;

struct pd_plugin_config {
    const pd_plugin *plugin;
    int n;
    bound_key *items;   /* pd_plugin_key_at order */
    char misuse[256];  /* first bad cfg_* read, "" if none */
};

/* "cfg.ini:14: ", "--set: " or "" */
static void where(char *buf, size_t cap, const pd_plugin_setting *e) {
    pd_cfg_location(buf, cap, e->file, e->line, NULL, NULL, NULL);
}

pd_status pd_plugin_unknown_key(const char *at, const char *section, const char *key,
                                const char *plugins, const char *const *keys, int n_keys) {
    char list[1024], hint[128] = "";
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; i < n_keys && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", keys[i]);
    /* NAME.key is matched on its key part, and suggested with its NAME. */
    const char *dot = key ? strchr(key, '.') : NULL, *plain = dot ? dot + 1 : key;
    const char *near = plain ? pd_config_suggest(plain, keys, n_keys) : NULL;
    if (near) snprintf(hint, sizeof hint, "did you mean '%.*s%s'? ", dot ? (int)(dot - key + 1) : 0,
                       key, near);
    return pd_fail(PD_ERR_CONFIG, "%s[%s] unknown key '%s' for plugin %s (%s%s%s)", at ? at : "", section,
                   key ? key : "(null)", plugins, hint, n_keys ? "its keys: " : "it takes no keys", list);
}

/* An entry no declared key matches. */
static pd_status unknown_key(const pd_plugin *pl, const char *section, const pd_plugin_setting *e) {
    const char *names[PD_PLUGIN_MAX_KEYS + 1];
    int n = pd_plugin_key_count(pl);
    for (int i = 0; i < n; i++) names[i] = pd_plugin_key_at(pl, i)->name;
    char at[256];
    where(at, sizeof at, e);
    return pd_plugin_unknown_key(at, section, e->key, pl->desc.name, names, n);
}

static bound_key *item_find(const pd_plugin_config *cfg, const char *key) {
    for (int i = 0; key && i < cfg->n; i++)
        if (strcmp(cfg->items[i].key->name, key) == 0) return &cfg->items[i];
    return NULL;
}

pd_status pd_plugin_config_build(const pd_plugin *pl, const char *section,
                                 const pd_plugin_setting *entries, int n, pd_plugin_config **out) {
    return pd_plugin_config_build_parsed(pl, section, entries, NULL, n, out);
}

pd_status pd_plugin_config_build_parsed(const pd_plugin *pl, const char *section,
                                        const pd_plugin_setting *entries, const pd_key_value *parsed,
                                        int n, pd_plugin_config **out) {
    if (!out) return pd_fail(PD_ERR_ARG, "plugin_config_build: out is NULL");
    *out = NULL;
    if (!pl) return pd_fail(PD_ERR_ARG, "plugin_config_build: plugin is NULL");
    if (n < 0 || (n > 0 && !entries))
        return pd_fail(PD_ERR_ARG, "plugin_config_build: %d entries at %p", n, (const void *)entries);
    if (!section) section = pd_plugin_kind_name(pl->desc.kind);

    pd_plugin_config *cfg = calloc(1, sizeof *cfg);
    int nk = pd_plugin_key_count(pl);
    if (!cfg || !(cfg->items = calloc((size_t)(nk ? nk : 1), sizeof *cfg->items))) {
        free(cfg);
        return pd_fail(PD_ERR_NOMEM, "plugin_config_build: out of memory for plugin %s",
                       pl->desc.name);
    }
    cfg->plugin = pl;
    cfg->n = nk;
    char why[256], at[256];
    for (int i = 0; i < nk; i++) { /* defaults were checked by the loader */
        bound_key *it = &cfg->items[i];
        it->key = pd_plugin_key_at(pl, i);
        snprintf(it->text, sizeof it->text, "%s", it->key->default_value);
        pd_key_parse(it->key, it->text, &it->value, why, sizeof why);
    }
    for (int e = 0; e < n; e++) {
        const pd_plugin_setting *s = &entries[e];
        bound_key *it = item_find(cfg, s->key);
        pd_status st = PD_OK;
        if (!it) {
            st = unknown_key(pl, section, s);
        } else if (parsed) {
            it->value = parsed[e]; /* parsed once, by the caller */
        } else if (!pd_key_parse(it->key, s->value, &it->value, why, sizeof why)) {
            where(at, sizeof at, s);
            st = pd_fail(PD_ERR_CONFIG, "%s[%s] %s = %s: %s", at, section, s->key,
                         s->value ? s->value : "(null)", why);
        }
        if (st) {
            pd_plugin_config_free(cfg);
            return st;
        }
        snprintf(it->text, sizeof it->text, "%s", s->value); /* the last setting wins */
    }
    *out = cfg;
    return PD_OK;
}

void pd_plugin_config_free(pd_plugin_config *cfg) {
    if (!cfg) return;
    free(cfg->items);
    free(cfg);
}

const pd_plugin *pd_plugin_config_plugin(const pd_plugin_config *cfg) {
    return cfg ? cfg->plugin : NULL;
}

const char *pd_plugin_config_text(const pd_plugin_config *cfg, const char *key) {
    const bound_key *it = cfg ? item_find(cfg, key) : NULL;
    return it ? it->text : NULL;
}

double pd_plugin_config_weight(const pd_plugin_config *cfg) {
    const bound_key *it = cfg ? item_find(cfg, pd_loss_weight_key.name) : NULL;
    return it && cfg->plugin->desc.kind == PD_PLUGIN_LOSS ? it->value.f : 1.0;
}

size_t pd_plugin_config_write(const pd_plugin_config *cfg, const char *key_prefix, char *buf,
                              size_t cap) {
    size_t need = 0;
    if (buf && cap) buf[0] = '\0';
    for (int i = 0; cfg && i < cfg->n; i++) {
        size_t left = need < cap ? cap - need : 0;
        int w = snprintf(left ? buf + need : NULL, left, "%s%s = %s\n", key_prefix ? key_prefix : "",
                         cfg->items[i].key->name, cfg->items[i].text);
        if (w > 0) need += (size_t)w;
    }
    return need;
}

/* ---- typed reads (host->cfg_*) --------------------------------------------- */

void pd_plugin_config_clear_misuse(const pd_plugin_config *cfg) {
    if (cfg) ((pd_plugin_config *)cfg)->misuse[0] = '\0';
}

const char *pd_plugin_config_misuse(const pd_plugin_config *cfg) {
    return cfg ? cfg->misuse : "";
}

/* Remembers the first misuse (the config is host-allocated and mutable;
 * plugins only see it const) and sets the thread's error message. */
static void misuse(const pd_plugin_config *cfg, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cfg && !cfg->misuse[0])
        snprintf(((pd_plugin_config *)cfg)->misuse, sizeof cfg->misuse, "%s", msg);
    pd_fail(PD_ERR_PLUGIN, "%s", msg);
}

/* The item for a read of `key` as `want`, or NULL after recording why. */
static const bound_key *typed(const pd_plugin_config *cfg, const char *key, const char *reader,
                             pd_key_type want, pd_key_type also) {
    if (!cfg) {
        misuse(cfg, "%s('%s'): config is NULL", reader, key ? key : "(null)");
        return NULL;
    }
    const bound_key *it = item_find(cfg, key);
    if (!it) {
        misuse(cfg, "plugin %s: %s('%s'): the plugin declares no such key", cfg->plugin->desc.name,
               reader, key ? key : "(null)");
        return NULL;
    }
    if (want && it->key->type != want && it->key->type != also) {
        misuse(cfg, "plugin %s: %s('%s'): the key is declared %s", cfg->plugin->desc.name, reader,
               key, pd_plugin_key_type_name(it->key->type));
        return NULL;
    }
    return it;
}

long pd_plugin_cfg_int(const pd_plugin_config *cfg, const char *key) {
    const bound_key *it = typed(cfg, key, "cfg_int", PD_KEY_INT, PD_KEY_INT);
    return it ? it->value.i : 0;
}

double pd_plugin_cfg_float(const pd_plugin_config *cfg, const char *key) {
    const bound_key *it = typed(cfg, key, "cfg_float", PD_KEY_FLOAT, PD_KEY_INT);
    return it ? it->value.f : 0.0;
}

bool pd_plugin_cfg_bool(const pd_plugin_config *cfg, const char *key) {
    const bound_key *it = typed(cfg, key, "cfg_bool", PD_KEY_BOOL, PD_KEY_BOOL);
    return it ? it->value.b : false;
}

/* Any type reads as its text (an enum's word, a number as written). */
const char *pd_plugin_cfg_string(const pd_plugin_config *cfg, const char *key) {
    const bound_key *it = typed(cfg, key, "cfg_string", 0, 0);
    return it ? it->text : NULL;
}
