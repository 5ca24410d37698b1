/* What a loaded plugin is: name, kind, path, vtables, config keys. */
#include <string.h>

#include "plugin_internal.h"

const char *pd_plugin_kind_name(pd_plugin_kind kind) {
    switch (kind) {
    case PD_PLUGIN_DECODER: return "decoder";
    case PD_PLUGIN_LOSS: return "loss";
    case PD_PLUGIN_ATTENTION: return "attention";
    }
    return "?";
}

const char *pd_plugin_name(const pd_plugin *pl) { return pl ? pl->desc.name : NULL; }
pd_plugin_kind pd_plugin_get_kind(const pd_plugin *pl) { return pl ? pl->desc.kind : 0; }
const char *pd_plugin_path(const pd_plugin *pl) { return pl ? pl->path : NULL; }
const char *pd_plugin_version(const pd_plugin *pl) { return pl ? pl->desc.version : NULL; }
const pd_plugin_desc *pd_plugin_descriptor(const pd_plugin *pl) { return pl ? &pl->desc : NULL; }

const pd_decoder_vtable *pd_plugin_decoder_vtable(const pd_plugin *pl) {
    return pl && pl->desc.kind == PD_PLUGIN_DECODER ? &pl->vt.decoder : NULL;
}
const pd_loss_vtable *pd_plugin_loss_vtable(const pd_plugin *pl) {
    return pl && pl->desc.kind == PD_PLUGIN_LOSS ? &pl->vt.loss : NULL;
}
const pd_attention_vtable *pd_plugin_attention_vtable(const pd_plugin *pl) {
    return pl && pl->desc.kind == PD_PLUGIN_ATTENTION ? &pl->vt.attention : NULL;
}

const char *pd_plugin_param_prefix(const pd_plugin *pl) {
    return pl && pl->prefix[0] ? pl->prefix : NULL;
}

/* Declared keys first, then the host's `weight` for losses. */
int pd_plugin_key_count(const pd_plugin *pl) {
    if (!pl) return 0;
    return pl->desc.n_keys + (pl->desc.kind == PD_PLUGIN_LOSS ? 1 : 0);
}

const pd_plugin_key *pd_plugin_key_at(const pd_plugin *pl, int i) {
    if (!pl || i < 0 || i >= pd_plugin_key_count(pl)) return NULL;
    return i < pl->desc.n_keys ? &pl->desc.keys[i] : &pd_loss_weight_key;
}

const pd_plugin_key *pd_plugin_key_find(const pd_plugin *pl, const char *key) {
    int n = pd_plugin_key_count(pl);
    for (int i = 0; key && i < n; i++) {
        const pd_plugin_key *k = pd_plugin_key_at(pl, i);
        if (strcmp(k->name, key) == 0) return k;
    }
    return NULL;
}
