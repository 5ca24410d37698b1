/* Typed values: text -> pd_config field (with range checks) and back. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"

/* ---- the text rule of value_text.h ---------------------------------------- */

static bool starts_value(const char *text) {
    return text && *text && !isspace((unsigned char)*text);
}

bool pd_text_to_long(const char *text, long *out) {
    if (!starts_value(text)) return false;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE) return false;
    *out = v;
    return true;
}

bool pd_text_to_double(const char *text, double *out) {
    if (!starts_value(text)) return false;
    char *end;
    double v = strtod(text, &end); /* ERANGE on underflow too: that value is kept */
    if (end == text || *end != '\0' || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool pd_text_to_bool(const char *text, bool *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    if (!text) return false;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) return *out = true, true;
        if (strcasecmp(text, no[i]) == 0) return *out = false, true;
    }
    return false;
}

/* ---- core keys --------------------------------------------------------------- */

bool pd_cfg_parse_int(const char *text, int *out) {
    long v;
    if (!pd_text_to_long(text, &v) || v < INT_MIN || v > INT_MAX) return false;
    *out = (int)v;
    return true;
}

bool pd_cfg_parse_double(const char *text, double *out) { return pd_text_to_double(text, out); }

bool pd_cfg_parse_bool(const char *text, bool *out) { return pd_text_to_bool(text, out); }

/* Shortest %g text that reads back as exactly v, so INI round trips are
 * exact and still readable (0.9999, not 0.99990000000000001). */
void pd_cfg_format_double(double v, char *out, size_t cap) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

static void format_bound(double v, char *out, size_t cap) {
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, cap, "%.0f", v);
    else
        pd_cfg_format_double(v, out, cap);
}

/* "a number in [0, 1)", "an integer >= 1", "a number > 0". */
static void range_text(const char *noun, const cfg_key *k, char *out, size_t cap) {
    char lo[32], hi[32];
    format_bound(k->min, lo, sizeof lo);
    format_bound(k->max, hi, sizeof hi);
    bool has_lo = isfinite(k->min), has_hi = isfinite(k->max);
    if (has_lo && has_hi)
        snprintf(out, cap, "%s in %c%s, %s%c", noun, k->min_open ? '(' : '[', lo, hi,
                 k->max_open ? ')' : ']');
    else if (has_lo)
        snprintf(out, cap, "%s %s %s", noun, k->min_open ? ">" : ">=", lo);
    else if (has_hi)
        snprintf(out, cap, "%s %s %s", noun, k->max_open ? "<" : "<=", hi);
    else
        snprintf(out, cap, "%s", noun);
}

static void choices_text(const char *const *choices, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "one of ");
    for (int i = 0; choices[i] && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? ", " : "", choices[i]);
}

void pd_cfg_value_allowed(const cfg_key *k, char *out, size_t cap) {
    switch (k->type) {
    case CFG_INT:
        if (k->choices)
            choices_text(k->choices, out, cap);
        else
            range_text("an integer", k, out, cap);
        return;
    case CFG_FLOAT: range_text("a number", k, out, cap); return;
    case CFG_BOOL: snprintf(out, cap, "true or false"); return;
    case CFG_ENUM: choices_text(k->choices, out, cap); return;
    case CFG_STRING:
        snprintf(out, cap, "text of at most %d characters", (int)k->size - 1);
        return;
    case CFG_PRESET: {
        size_t n = (size_t)snprintf(out, cap, "one of ");
        for (int i = 0; i < pd_cfg_n_presets && n < cap; i++)
            n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? ", " : "", pd_cfg_presets[i].name);
        if (n < cap) snprintf(out + n, cap - n, " (empty: none)");
        return;
    }
    case CFG_PLUGINS:
        if (strcmp(k->section, "loss") == 0)
            snprintf(out, cap, "plugin names or .so paths, comma-separated (at most %d)",
                     PD_CONFIG_MAX_PLUGINS);
        else
            snprintf(out, cap, "one plugin name or .so path");
        return;
    }
}

pd_config_plugins *pd_cfg_plugins_at(pd_config *cfg, const cfg_key *k) {
    return (pd_config_plugins *)((char *)cfg + k->offset);
}

static bool in_range(const cfg_key *k, double v) {
    if (v < k->min || (k->min_open && v == k->min)) return false;
    if (v > k->max || (k->max_open && v == k->max)) return false;
    return true;
}

/* "a, b ,c" -> plugins[]: names trimmed, none empty. */
static bool parse_plugins(const cfg_key *k, const char *text, pd_config_plugins *out, char *why,
                          size_t why_cap) {
    int max = strcmp(k->section, "loss") == 0 ? PD_CONFIG_MAX_PLUGINS : 1;
    int n = 0;
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && isspace((unsigned char)*p)) p++;
        const char *e = end;
        while (e > p && isspace((unsigned char)e[-1])) e--;
        if (e == p) {
            snprintf(why, why_cap, "expected %s, got an empty name",
                     max > 1 ? "plugin names separated by commas" : "a plugin name or a .so path");
            return false;
        }
        if (n == max) {
            if (max == 1)
                snprintf(why, why_cap, "expected one plugin ([%s] does not combine plugins; [loss] does)",
                         k->section);
            else
                snprintf(why, why_cap, "expected at most %d plugins", max);
            return false;
        }
        if ((size_t)(e - p) >= sizeof out->plugins[0]) {
            snprintf(why, why_cap, "plugin name longer than %d characters",
                     (int)sizeof out->plugins[0] - 1);
            return false;
        }
        memcpy(out->plugins[n], p, (size_t)(e - p));
        out->plugins[n][e - p] = '\0';
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    for (int i = n; i < PD_CONFIG_MAX_PLUGINS; i++) out->plugins[i][0] = '\0';
    out->n_plugins = n;
    return true;
}

bool pd_cfg_value_parse(const cfg_key *k, const char *text, pd_config *cfg, char *why,
                        size_t why_cap) {
    void *field = (char *)cfg + k->offset;
    char allowed[256];
    pd_cfg_value_allowed(k, allowed, sizeof allowed);
    switch (k->type) {
    case CFG_INT: {
        int v;
        if (!pd_cfg_parse_int(text, &v)) break;
        if (k->choices) {
            for (int i = 0; k->choices[i]; i++)
                if (v == atoi(k->choices[i])) return *(int *)field = v, true;
            break;
        }
        if (!in_range(k, v)) break;
        *(int *)field = v;
        return true;
    }
    case CFG_FLOAT: {
        double v;
        if (!pd_cfg_parse_double(text, &v) || !in_range(k, v)) break;
        *(double *)field = v;
        return true;
    }
    case CFG_BOOL:
        if (!pd_cfg_parse_bool(text, (bool *)field)) break;
        return true;
    case CFG_ENUM:
        for (int i = 0; k->choices[i]; i++)
            if (strcmp(text, k->choices[i]) == 0) return *(int *)field = i, true;
        break;
    case CFG_STRING:
        if (strlen(text) >= k->size) break;
        memcpy(field, text, strlen(text) + 1);
        return true;
    case CFG_PRESET: {
        if (text[0] == '\0') return ((char *)field)[0] = '\0', true;
        const cfg_preset *p = pd_cfg_preset_find(text);
        if (!p) break;
        snprintf((char *)field, k->size, "%s", p->name);
        return true;
    }
    case CFG_PLUGINS: {
        pd_config_plugins tmp = *(pd_config_plugins *)field;
        if (!parse_plugins(k, text, &tmp, why, why_cap)) return false;
        *(pd_config_plugins *)field = tmp;
        return true;
    }
    }
    snprintf(why, why_cap, "expected %s%s", allowed,
             strstr(text, " #") ? " (inline comments start with ';')" : "");
    return false;
}

void pd_cfg_value_format(const cfg_key *k, const pd_config *cfg, bool compact, char *out,
                         size_t cap) {
    const void *field = (const char *)cfg + k->offset;
    switch (k->type) {
    case CFG_INT: snprintf(out, cap, "%d", *(const int *)field); return;
    case CFG_FLOAT: pd_cfg_format_double(*(const double *)field, out, cap); return;
    case CFG_BOOL: snprintf(out, cap, "%s", *(const bool *)field ? "true" : "false"); return;
    case CFG_ENUM: {
        int v = *(const int *)field, n = 0;
        while (k->choices[n]) n++;
        snprintf(out, cap, "%s", v >= 0 && v < n ? k->choices[v] : "?");
        return;
    }
    case CFG_STRING:
    case CFG_PRESET: snprintf(out, cap, "%s", (const char *)field); return;
    case CFG_PLUGINS: {
        const pd_config_plugins *s = field;
        size_t n = 0;
        out[0] = '\0';
        for (int i = 0; i < s->n_plugins && n < cap; i++)
            n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? (compact ? "," : ", ") : "",
                                  s->plugins[i]);
        return;
    }
    }
}

bool pd_cfg_value_check(const cfg_key *k, const pd_config *cfg, char *why, size_t why_cap) {
    const void *field = (const char *)cfg + k->offset;
    bool ok = true;
    switch (k->type) {
    case CFG_INT: {
        int v = *(const int *)field;
        if (k->choices) {
            ok = false;
            for (int i = 0; k->choices[i]; i++) ok = ok || v == atoi(k->choices[i]);
        } else {
            ok = in_range(k, v);
        }
        break;
    }
    case CFG_FLOAT: ok = isfinite(*(const double *)field) && in_range(k, *(const double *)field); break;
    case CFG_BOOL: break;
    case CFG_ENUM: {
        int v = *(const int *)field, n = 0;
        while (k->choices[n]) n++;
        ok = v >= 0 && v < n;
        break;
    }
    case CFG_STRING: ok = memchr(field, '\0', k->size) != NULL; break;
    case CFG_PRESET:
        ok = memchr(field, '\0', k->size) != NULL &&
             (((const char *)field)[0] == '\0' || pd_cfg_preset_find(field));
        break;
    case CFG_PLUGINS: {
        const pd_config_plugins *s = field;
        ok = s->n_plugins >= 1 && s->n_plugins <= PD_CONFIG_MAX_PLUGINS && s->n_raw >= 0 &&
             s->n_raw <= PD_CONFIG_MAX_RAW;
        break;
    }
    }
    if (!ok) {
        char allowed[256];
        pd_cfg_value_allowed(k, allowed, sizeof allowed);
        snprintf(why, why_cap, "expected %s", allowed);
    }
    return ok;
}
