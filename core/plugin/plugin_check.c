/* Checks a plugin descriptor before the host calls anything in it: ABI
 * version, struct sizes, kind, name, strings, vtable, declared keys. Every
 * refusal is one line "<path>: <what>: expected X, found Y". */
#include <stdio.h>
#include <string.h>

#include "plugin_internal.h"

#define REFUSE(...) pd_fail(PD_ERR_PLUGIN, __VA_ARGS__)

static const char *str_or_null(const char *s) { return s ? s : "NULL"; }

/* Copies a plugin struct that starts with its own size into the host's
 * zeroed copy, reading no more than the plugin declared. */
/* The kind whose vtable has exactly this size (1.0 or current), or 0. */
static pd_plugin_kind kind_of_vtable_size(size_t n) {
    if (n == PD_DECODER_VT_SIZE_1_0 || n == sizeof(pd_decoder_vtable)) return PD_PLUGIN_DECODER;
    if (n == PD_LOSS_VT_SIZE_1_0 || n == sizeof(pd_loss_vtable)) return PD_PLUGIN_LOSS;
    if (n == PD_ATTENTION_VT_SIZE_1_0 || n == sizeof(pd_attention_vtable))
        return PD_PLUGIN_ATTENTION;
    return 0;
}

static pd_status copy_sized(const char *path, const char *what, const void *src, size_t v1_size,
                            void *dst, size_t dst_size) {
    size_t n = *(const size_t *)src;
    pd_plugin_kind other = kind_of_vtable_size(n);
    if (n < v1_size && other && strncmp(what, pd_plugin_kind_name(other), strlen(pd_plugin_kind_name(other))))
        return REFUSE("%s: kind %.*s, but its vtable is the size of a %s vtable (%zu bytes, "
                      "expected >= %zu): wrong kind in the descriptor?",
                      path, (int)strcspn(what, " "), what, pd_plugin_kind_name(other), n, v1_size);
    if (n < v1_size)
        return REFUSE("%s: %s struct_size: expected >= %zu, found %zu", path, what, v1_size, n);
    if (n > PD_PLUGIN_STRUCT_MAX)
        return REFUSE("%s: %s struct_size: expected <= %d, found %zu (not a struct size)", path,
                      what, PD_PLUGIN_STRUCT_MAX, n);
    memset(dst, 0, dst_size);
    memcpy(dst, src, n < dst_size ? n : dst_size);
    return PD_OK;
}

static pd_status need(const char *path, const char *kind, const char *member, const void *fn) {
    if (fn) return PD_OK;
    return REFUSE("%s: %s vtable: required member '%s' is NULL", path, kind, member);
}

static pd_status check_vtable(const char *path, const pd_plugin_desc *d, struct pd_plugin *pl) {
    const char *kind = pd_plugin_kind_name(d->kind);
    if (!d->vtable) return REFUSE("%s: vtable: expected a %s vtable, found NULL", path, kind);
    pd_status s;
    switch (d->kind) {
    case PD_PLUGIN_DECODER: {
        pd_decoder_vtable *v = &pl->vt.decoder;
        if ((s = copy_sized(path, "decoder vtable", d->vtable, PD_DECODER_VT_SIZE_1_0, v,
                            sizeof *v)))
            return s;
        if ((s = need(path, kind, "create", (const void *)v->create)) ||
            (s = need(path, kind, "init_weights", (const void *)v->init_weights)) ||
            (s = need(path, kind, "forward", (const void *)v->forward)) ||
            (s = need(path, kind, "destroy", (const void *)v->destroy)))
            return s;
        return PD_OK;
    }
    case PD_PLUGIN_LOSS: {
        pd_loss_vtable *v = &pl->vt.loss;
        if ((s = copy_sized(path, "loss vtable", d->vtable, PD_LOSS_VT_SIZE_1_0, v, sizeof *v)))
            return s;
        if ((s = need(path, kind, "create", (const void *)v->create)) ||
            (s = need(path, kind, "forward", (const void *)v->forward)) ||
            (s = need(path, kind, "destroy", (const void *)v->destroy)))
            return s;
        return PD_OK;
    }
    case PD_PLUGIN_ATTENTION: {
        pd_attention_vtable *v = &pl->vt.attention;
        if ((s = copy_sized(path, "attention vtable", d->vtable, PD_ATTENTION_VT_SIZE_1_0, v,
                            sizeof *v)))
            return s;
        if ((s = need(path, kind, "create", (const void *)v->create)) ||
            (s = need(path, kind, "forward", (const void *)v->forward)) ||
            (s = need(path, kind, "destroy", (const void *)v->destroy)))
            return s;
        return PD_OK;
    }
    }
    return REFUSE("%s: kind: expected 1..3, found %d", path, (int)d->kind);
}

static pd_status check_key(const char *path, const pd_plugin_desc *d, int i) {
    const pd_plugin_key *k = &d->keys[i];
    char why[256];
    if (!pd_plugin_name_ok(k->name, PD_PLUGIN_KEY_NAME_MAX))
        return REFUSE("%s: key %d name: expected [a-z0-9_]+ (at most %d characters), found %s%s%s",
                      path, i, PD_PLUGIN_KEY_NAME_MAX - 1, k->name ? "'" : "",
                      str_or_null(k->name), k->name ? "'" : "");
    for (int j = 0; j < i; j++)
        if (strcmp(d->keys[j].name, k->name) == 0)
            return REFUSE("%s: key '%s': expected unique key names, found it twice (keys %d and %d)",
                          path, k->name, j, i);
    if (d->kind == PD_PLUGIN_LOSS && strcmp(k->name, pd_loss_weight_key.name) == 0)
        return REFUSE("%s: key 'weight': expected another name (the host owns 'weight' of every "
                      "loss plugin), found it declared",
                      path);
    if (k->type < PD_KEY_INT || k->type > PD_KEY_ENUM)
        return REFUSE("%s: key '%s' type: expected 1..5 (int, float, bool, string, enum), found %d",
                      path, k->name, (int)k->type);
    if (!pd_key_allowed_ok(k, why, sizeof why))
        return REFUSE("%s: key '%s' %s", path, k->name, why);
    if (!k->default_value)
        return REFUSE("%s: key '%s' default: expected a %s value, found NULL", path, k->name,
                      pd_plugin_key_type_name(k->type));
    pd_key_value v;
    if (!pd_key_parse(k, k->default_value, &v, why, sizeof why))
        return REFUSE("%s: key '%s' default '%s': %s", path, k->name, k->default_value, why);
    return PD_OK;
}

static pd_status check_keys(const char *path, const pd_plugin_desc *d) {
    if (d->n_keys < 0 || d->n_keys > PD_PLUGIN_MAX_KEYS)
        return REFUSE("%s: n_keys: expected 0..%d, found %d", path, PD_PLUGIN_MAX_KEYS, d->n_keys);
    if (d->n_keys > 0 && !d->keys)
        return REFUSE("%s: keys: expected %d keys, found NULL", path, d->n_keys);
    for (int i = 0; i < d->n_keys; i++) {
        pd_status s = check_key(path, d, i);
        if (s) return s;
    }
    return PD_OK;
}

pd_status pd_plugin_check_desc(const char *path, const pd_plugin_desc *d,
                               pd_plugin_kind expected_kind, struct pd_plugin *pl) {
    if (d->abi_major != PD_PLUGIN_ABI_MAJOR)
        return REFUSE("%s: ABI major version: expected %d, found %u (rebuild the plugin against "
                      "this pixeldit)",
                      path, PD_PLUGIN_ABI_MAJOR, d->abi_major);
    if (d->abi_minor > PD_PLUGIN_ABI_MINOR)
        return REFUSE("%s: ABI minor version: expected <= %d, found %u (the plugin needs a newer "
                      "pixeldit)",
                      path, PD_PLUGIN_ABI_MINOR, d->abi_minor);
    pd_status s;
    if (d->struct_size < PD_DESC_SIZE_1_0)
        return REFUSE("%s: descriptor struct_size: expected >= %zu, found %zu", path,
                      PD_DESC_SIZE_1_0, d->struct_size);
    if (d->struct_size > PD_PLUGIN_STRUCT_MAX)
        return REFUSE("%s: descriptor struct_size: expected <= %d, found %zu", path,
                      PD_PLUGIN_STRUCT_MAX, d->struct_size);
    memset(&pl->desc, 0, sizeof pl->desc);
    memcpy(&pl->desc, d, d->struct_size < sizeof pl->desc ? d->struct_size : sizeof pl->desc);
    d = &pl->desc; /* from here on only the host's copy is read */

    if (d->kind < PD_PLUGIN_DECODER || d->kind > PD_PLUGIN_ATTENTION)
        return REFUSE("%s: kind: expected 1..3 (decoder, loss, attention), found %d", path,
                      (int)d->kind);
    if (expected_kind && d->kind != expected_kind)
        return REFUSE("%s: kind: expected %s, found %s (plugin '%s')", path,
                      pd_plugin_kind_name(expected_kind), pd_plugin_kind_name(d->kind),
                      d->name ? d->name : "?");
    if (!pd_plugin_name_ok(d->name, PD_PLUGIN_NAME_MAX))
        return REFUSE("%s: name: expected [a-z0-9_]+ (at most %d characters), found %s%s%s", path,
                      PD_PLUGIN_NAME_MAX - 1, d->name ? "'" : "", str_or_null(d->name),
                      d->name ? "'" : "");
    if (!d->version || !*d->version)
        return REFUSE("%s: version: expected a non-empty string, found %s", path,
                      d->version ? "\"\"" : "NULL");
    if (!d->description)
        return REFUSE("%s: description: expected a string, found NULL", path);
    if ((s = check_vtable(path, d, pl))) return s;
    if ((s = check_keys(path, d))) return s;

    snprintf(pl->label, sizeof pl->label, "%s plugin %s", pd_plugin_kind_name(d->kind), d->name);
    pl->prefix[0] = '\0';
    if (d->kind == PD_PLUGIN_DECODER)
        snprintf(pl->prefix, sizeof pl->prefix, "%s",
                 strcmp(d->name, "jit_final_layer") == 0 ? "final_layer." : "decoder.");
    return PD_OK;
}
