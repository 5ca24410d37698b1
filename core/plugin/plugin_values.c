/* Plugin names and config key values: what is a valid name, how a value
 * of each key type is parsed and checked against the key's `allowed`. The
 * loader uses it on defaults, the config binding on user values. Texts
 * become numbers and bools by the config's own rule (config/value_text.h),
 * so a plugin key and a core key read the same text the same way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/value_text.h"
#include "plugin_internal.h"

const pd_plugin_key pd_loss_weight_key = {
    "weight", PD_KEY_FLOAT, "1.0",
    "host key: the loss is multiplied by this before the losses are summed", "0..",
};

bool pd_plugin_name_ok(const char *s, size_t max) {
    if (!s || !*s) return false;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
        if (n + 1 >= max) return false;
    }
    return true;
}

/* Splits "min..max" (either side may be empty) into two texts. */
static bool split_range(const char *allowed, char *lo, char *hi, size_t cap) {
    const char *dots = strstr(allowed, "..");
    if (!dots) return false;
    size_t nlo = (size_t)(dots - allowed), nhi = strlen(dots + 2);
    if (nlo >= cap || nhi >= cap) return false;
    memcpy(lo, allowed, nlo);
    lo[nlo] = '\0';
    memcpy(hi, dots + 2, nhi + 1);
    return true;
}

/* Bounds of an INT/FLOAT range as doubles; a missing side is +-inf. */
static bool range_bounds(const pd_plugin_key *k, double *lo, double *hi) {
    char slo[64], shi[64];
    if (!split_range(k->allowed, slo, shi, sizeof slo)) return false;
    *lo = -INFINITY, *hi = INFINITY;
    if (k->type == PD_KEY_INT) {
        long v;
        if (*slo && !pd_text_to_long(slo, &v)) return false;
        if (*slo) *lo = (double)v;
        if (*shi && !pd_text_to_long(shi, &v)) return false;
        if (*shi) *hi = (double)v;
    } else {
        if (*slo && !pd_text_to_double(slo, lo)) return false;
        if (*shi && !pd_text_to_double(shi, hi)) return false;
    }
    return *lo <= *hi;
}

/* Enum words: non-empty, no spaces, separated by single '|'. */
static bool enum_words_ok(const char *allowed) {
    if (!allowed || !*allowed || *allowed == '|') return false;
    for (const char *c = allowed; *c; c++) {
        if (*c == ' ' || *c == '\t' || *c == '\n') return false;
        if (*c == '|' && (c[1] == '|' || c[1] == '\0')) return false;
    }
    return true;
}

static bool enum_has(const char *allowed, const char *word) {
    size_t n = strlen(word);
    for (const char *w = allowed; w;) {
        const char *bar = strchr(w, '|');
        size_t len = bar ? (size_t)(bar - w) : strlen(w);
        if (len == n && strncmp(w, word, n) == 0) return true;
        w = bar ? bar + 1 : NULL;
    }
    return false;
}

bool pd_key_allowed_ok(const pd_plugin_key *k, char *why, size_t cap) {
    double lo, hi;
    switch (k->type) {
    case PD_KEY_INT:
    case PD_KEY_FLOAT:
        if (k->allowed && !range_bounds(k, &lo, &hi)) {
            snprintf(why, cap, "allowed '%s': expected \"min..max\" (%s bounds, either may be empty)",
                     k->allowed, k->type == PD_KEY_INT ? "integer" : "number");
            return false;
        }
        return true;
    case PD_KEY_ENUM:
        if (!enum_words_ok(k->allowed)) {
            snprintf(why, cap, "allowed: expected \"word|word|...\" for an enum, found %s%s%s",
                     k->allowed ? "'" : "", k->allowed ? k->allowed : "NULL",
                     k->allowed ? "'" : "");
            return false;
        }
        return true;
    case PD_KEY_BOOL:
    case PD_KEY_STRING:
        if (k->allowed) {
            snprintf(why, cap, "allowed: expected NULL for a %s key, found '%s'",
                     pd_plugin_key_type_name(k->type), k->allowed);
            return false;
        }
        return true;
    }
    snprintf(why, cap, "type: expected 1..5 (int, float, bool, string, enum), found %d",
             (int)k->type);
    return false;
}

bool pd_key_parse(const pd_plugin_key *k, const char *text, pd_key_value *out, char *why,
                  size_t cap) {
    pd_key_value v = {0, 0.0, false};
    double lo, hi;
    if (!text) {
        snprintf(why, cap, "expected a value, found NULL");
        return false;
    }
    if (strlen(text) >= PD_PLUGIN_VALUE_MAX) {
        snprintf(why, cap, "value too long (at most %d characters)", PD_PLUGIN_VALUE_MAX - 1);
        return false;
    }
    switch (k->type) {
    case PD_KEY_INT:
        if (!pd_text_to_long(text, &v.i)) {
            snprintf(why, cap, "expected an integer");
            return false;
        }
        v.f = (double)v.i;
        if (k->allowed && range_bounds(k, &lo, &hi) && (v.f < lo || v.f > hi)) {
            snprintf(why, cap, "out of range %s", k->allowed);
            return false;
        }
        break;
    case PD_KEY_FLOAT:
        if (!pd_text_to_double(text, &v.f)) {
            snprintf(why, cap, "expected a number");
            return false;
        }
        if (k->allowed && range_bounds(k, &lo, &hi) && (v.f < lo || v.f > hi)) {
            snprintf(why, cap, "out of range %s", k->allowed);
            return false;
        }
        break;
    case PD_KEY_BOOL:
        if (!pd_text_to_bool(text, &v.b)) {
            snprintf(why, cap, "expected a boolean (true/false/yes/no/on/off/1/0)");
            return false;
        }
        break;
    case PD_KEY_STRING:
        break;
    case PD_KEY_ENUM:
        if (!k->allowed || !enum_has(k->allowed, text)) {
            snprintf(why, cap, "expected one of %s", k->allowed ? k->allowed : "(none)");
            return false;
        }
        break;
    default:
        snprintf(why, cap, "unknown key type %d", (int)k->type);
        return false;
    }
    *out = v;
    return true;
}

const char *pd_plugin_key_type_name(pd_key_type type) {
    switch (type) {
    case PD_KEY_INT: return "int";
    case PD_KEY_FLOAT: return "float";
    case PD_KEY_BOOL: return "bool";
    case PD_KEY_STRING: return "string";
    case PD_KEY_ENUM: return "enum";
    }
    return "?";
}
