/* The resolved config as INI text (stored in checkpoints, reloaded with the
 * same parser) and equality of two configs. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

void cfg_text_put(cfg_text *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) o->len += (size_t)n;
}

#define put cfg_text_put

/* True if inih would read part of "key = value" as a comment: a ';' after
 * a blank, or first (after "= "). "key =;x" and the list "a ,;b" both load. */
static bool starts_comment(const char *value) {
    for (const char *p = value; *p; p++)
        if (*p == ';' && (p == value || p[-1] == ' ' || p[-1] == '\t')) return true;
    return false;
}

/* "key = value", or "key=value" when that is what it takes to stay within
 * inih's line limit (values read from a file always fit that way) or to keep
 * a ';' from starting a comment (lists are compact: "a,;b"). */
static void put_line(cfg_text *o, const char *key, const char *value, const char *compact_value) {
    if (!starts_comment(value) && strlen(key) + 3 + strlen(value) <= PD_CONFIG_LINE_MAX)
        put(o, "%s = %s\n", key, value);
    else
        put(o, "%s=%s\n", key, compact_value);
}

size_t pd_config_to_ini(const pd_config *cfg, char *buf, size_t cap) {
    cfg_text o = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    put(&o, "; pixeldit config, fully resolved\n");
    char value[PD_CONFIG_VALUE_MAX * PD_CONFIG_MAX_PLUGINS + 16];
    char compact[sizeof value];
    for (int s = 0; s < pd_cfg_n_sections; s++) {
        const char *sec = pd_cfg_sections[s].name;
        put(&o, "%s[%s]\n", s ? "\n" : "", sec);
        for (int i = 0; i < pd_cfg_n_keys; i++) {
            const cfg_key *k = &pd_cfg_keys[i];
            if (strcmp(k->section, sec) != 0) continue;
            pd_cfg_value_format(k, cfg, false, value, sizeof value);
            pd_cfg_value_format(k, cfg, true, compact, sizeof compact);
            put_line(&o, k->name, value, compact);
        }
        const pd_config_plugins *p = pd_config_plugin_section(cfg, sec);
        for (int i = 0; p && i < p->n_raw; i++)
            put_line(&o, p->raw[i].key, p->raw[i].value, p->raw[i].value);
    }
    if (cap && o.len >= cap) buf[cap - 1] = '\0';
    return o.len;
}

static bool same_raw(const pd_config_plugins *a, const pd_config_plugins *b) {
    if (a->n_raw != b->n_raw) return false;
    for (int i = 0; i < a->n_raw; i++)
        if (strcmp(a->raw[i].key, b->raw[i].key) != 0 ||
            strcmp(a->raw[i].value, b->raw[i].value) != 0)
            return false;
    return true;
}

bool pd_config_equal(const pd_config *a, const pd_config *b) {
    char va[PD_CONFIG_VALUE_MAX * PD_CONFIG_MAX_PLUGINS + 16], vb[sizeof va];
    /* Comparing the canonical text compares doubles exactly (shortest
     * round-trip form) and skips padding and bytes after string NULs. */
    for (int i = 0; i < pd_cfg_n_keys; i++) {
        pd_cfg_value_format(&pd_cfg_keys[i], a, false, va, sizeof va);
        pd_cfg_value_format(&pd_cfg_keys[i], b, false, vb, sizeof vb);
        if (strcmp(va, vb) != 0) return false;
    }
    return same_raw(&a->decoder, &b->decoder) && same_raw(&a->loss, &b->loss) &&
           same_raw(&a->attention, &b->attention);
}
