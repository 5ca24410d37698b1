/* Command-line overrides: "section.key=value", one layer named "--set". */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

/* Copies s[0..n) without surrounding blanks. */
static void trimmed(const char *s, size_t n, char *out, size_t cap) {
    while (n > 0 && isspace((unsigned char)*s)) s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    if (n >= cap) n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Values must survive pd_config_to_ini() and a reload by inih. */
static const char *unwritable(const char *key, const char *value) {
    for (const char *p = value; *p; p++) {
        if (*p == '\n' || *p == '\r') return "a value cannot span lines";
        if (*p == ';' && p > value && isspace((unsigned char)p[-1]))
            return "' ;' would start a comment in the INI file";
    }
    if (strlen(key) + 1 + strlen(value) > PD_CONFIG_LINE_MAX) return "too long for one INI line";
    return NULL;
}

static pd_status parse_one(cfg_items *items, const char *a) {
    char section[64], key[PD_CONFIG_KEY_MAX + 16], value[PD_CONFIG_VALUE_MAX + 16];
    const char *eq = strchr(a, '=');
    const char *dot = eq ? memchr(a, '.', (size_t)(eq - a)) : NULL;
    if (!eq || !dot)
        return pd_fail(PD_ERR_CONFIG, "--set %s: expected section.key=value", a);
    trimmed(a, (size_t)(dot - a), section, sizeof section);
    trimmed(dot + 1, (size_t)(eq - dot - 1), key, sizeof key);
    trimmed(eq + 1, strlen(eq + 1), value, sizeof value);
    int sec = pd_cfg_section_index(section);
    if (sec < 0) {
        char list[256], hint[96] = "";
        const char *names[16];
        for (int i = 0; i < pd_cfg_n_sections; i++) names[i] = pd_cfg_sections[i].name;
        const char *near = pd_config_suggest(section, names, pd_cfg_n_sections);
        if (near) snprintf(hint, sizeof hint, "; did you mean [%s]?", near);
        pd_cfg_section_list(list, sizeof list);
        return pd_fail(PD_ERR_CONFIG, "--set %s: unknown section [%s] (sections: %s%s)", a, section,
                       list, hint);
    }
    for (const char *p = key; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return pd_fail(PD_ERR_CONFIG, "--set %s: key '%s' may hold only letters, digits, '_', '-' and '.'",
                           a, key);
    if (key[0] == '\0') return pd_fail(PD_ERR_CONFIG, "--set %s: empty key", a);
    const char *why = unwritable(key, value);
    if (why) return pd_fail(PD_ERR_CONFIG, "--set %s: %s", a, why);
    return pd_cfg_items_add(items, sec, key, value, 0, "--set");
}

pd_status pd_config_set_all(pd_config *cfg, const char *const *assignments, int n) {
    if (!cfg || (n > 0 && !assignments))
        return pd_fail(PD_ERR_ARG, "pd_config_set_all: NULL argument");
    cfg_items items = {0};
    pd_status s = PD_OK;
    for (int i = 0; i < n && s == PD_OK; i++) {
        if (!assignments[i]) s = pd_fail(PD_ERR_ARG, "pd_config_set_all: assignment %d is NULL", i);
        else s = parse_one(&items, assignments[i]);
    }
    if (s == PD_OK && items.n > 0) s = pd_cfg_apply_items(cfg, &items, "--set");
    pd_cfg_items_free(&items);
    return s;
}

pd_status pd_config_set(pd_config *cfg, const char *assignment) {
    return pd_config_set_all(cfg, &assignment, 1);
}
