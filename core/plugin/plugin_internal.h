/* Internals of the plugin host, shared by the files of core/plugin/. */
#ifndef PD_PLUGIN_INTERNAL_H
#define PD_PLUGIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "pixeldit/config.h"
#include "pixeldit/plugin_host.h"

/* Sizes of the v1.0 structs, frozen forever: a plugin built against any
 * 1.x header has at least these. offsetof + size of the last v1.0 member,
 * so members appended later do not change them. */
#define PD_DESC_SIZE_1_0 (offsetof(pd_plugin_desc, vtable) + sizeof(const void *))
#define PD_DECODER_VT_SIZE_1_0 (offsetof(pd_decoder_vtable, destroy) + sizeof(void (*)(void *)))
#define PD_LOSS_VT_SIZE_1_0 (offsetof(pd_loss_vtable, destroy) + sizeof(void (*)(void *)))
#define PD_ATTENTION_VT_SIZE_1_0 \
    (offsetof(pd_attention_vtable, destroy) + sizeof(void (*)(void *)))
/* Larger struct_size values than this are garbage, not a newer ABI. */
#define PD_PLUGIN_STRUCT_MAX 4096

#define PD_PLUGIN_NAME_MAX 64   /* name with the NUL */
#define PD_PLUGIN_KEY_NAME_MAX 48 /* key name with the NUL (= PD_CONFIG_KEY_MAX) */
#define PD_PLUGIN_VALUE_MAX 192 /* value text with the NUL (= PD_CONFIG_VALUE_MAX) */
/* A plugin key and its value travel through the config's raw entries: the
 * limits must be the same, or one side would accept what the other cuts. */
_Static_assert(PD_PLUGIN_KEY_NAME_MAX == PD_CONFIG_KEY_MAX, "plugin key limit != config's");
_Static_assert(PD_PLUGIN_VALUE_MAX == PD_CONFIG_VALUE_MAX, "plugin value limit != config's");
#define PD_PLUGIN_MAX_KEYS 64   /* declared keys per plugin */

struct pd_plugin {
    char *path;            /* realpath of the file */
    void *handle;          /* dlopen handle; NULL for the host's own key list */
    pd_plugin_desc desc;   /* host-sized copy, zero past the plugin's struct_size */
    union {
        pd_decoder_vtable decoder;
        pd_loss_vtable loss;
        pd_attention_vtable attention;
    } vt;                  /* host-sized copy of the kind's vtable */
    char prefix[24];       /* parameter name prefix, "" when none */
    char label[64];        /* "decoder plugin NAME": its ops' part in `bench --profile` */
};

/* ---- names and values (plugin_values.c) --------------------------------- */

/* [a-z0-9_]+ of at most max-1 characters. */
bool pd_plugin_name_ok(const char *s, size_t max);

/* A key value parsed by type. */
typedef struct pd_key_value {
    long i;
    double f;
    bool b;
} pd_key_value;

/* Checks that a key's `allowed` is well formed for its type; on failure
 * writes why into `why`. */
bool pd_key_allowed_ok(const pd_plugin_key *k, char *why, size_t cap);
/* Parses `text` as a value of key k and checks it against `allowed`. On
 * failure writes the reason ("expected an integer", "out of range 1..8",
 * "expected one of a|b") into `why`. */
bool pd_key_parse(const pd_plugin_key *k, const char *text, pd_key_value *out, char *why,
                  size_t cap);

/* pd_plugin_config_build with the entries' values already parsed
 * (parsed[i] of entries[i], by pd_key_parse against the plugin's key), so
 * that a config's plugin value is parsed once (plugin_section.c); parsed
 * NULL parses them here. */
pd_status pd_plugin_config_build_parsed(const pd_plugin *pl, const char *section,
                                        const pd_plugin_setting *entries, const pd_key_value *parsed,
                                        int n, pd_plugin_config **out);

/* The one "unknown key" message for plugin keys (plugin_config.c), from a
 * config file, --set or a direct pd_plugin_config_build:
 *   cfg.ini:14: [decoder] unknown key 'widht' for plugin unet_decoder (did you
 *   mean 'width'? its keys: width, mode)
 * at is the location prefix ("cfg.ini:14: ", "--set decoder.w=3: " or "");
 * plugins names the plugin(s) ("good_loss or wrong_kind"). Returns
 * PD_ERR_CONFIG. */
pd_status pd_plugin_unknown_key(const char *at, const char *section, const char *key,
                                const char *plugins, const char *const *keys, int n_keys);

/* The host key every loss plugin has. */
extern const pd_plugin_key pd_loss_weight_key;

/* ---- descriptor checks (plugin_check.c) --------------------------------- */

/* Checks a descriptor fresh from pixeldit_plugin_entry() and fills
 * pl->desc, pl->vt and pl->prefix. Never reads past the plugin's struct
 * sizes. Refusals: PD_ERR_PLUGIN "<path>: <what>: expected X, found Y". */
pd_status pd_plugin_check_desc(const char *path, const pd_plugin_desc *d,
                               pd_plugin_kind expected_kind, struct pd_plugin *pl);

/* ---- registration scope (plugin_create.c) ------------------------------- */

/* host->param_add: checks the scope opened by pd_plugin_create_decoder. */
pd_tensor *pd_plugin_host_param_add(pd_params *p, const char *name, const int *shape, int ndim,
                                    unsigned flags);
/* Name of the plugin whose create() is running on this thread, or NULL. */
const char *pd_plugin_current_name(void);

/* ---- config internals (plugin_config.c) --------------------------------- */

/* Clears / reads the first misuse of the cfg_* accessors ("" if none). */
void pd_plugin_config_clear_misuse(const pd_plugin_config *cfg);
const char *pd_plugin_config_misuse(const pd_plugin_config *cfg);

#endif
