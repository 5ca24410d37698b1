/* pixeldit/plugin_host.h - the host side of the plugin ABI: finding,
 * loading and checking plugins, binding their config keys, creating them.
 *
 * Life of a plugin in the host:
 *   pd_plugin_load("unet_decoder", PD_PLUGIN_DECODER, &pl)   find, dlopen, check
 *   pd_plugin_config_build(pl, "decoder", entries, n, &cfg)  keys -> typed values
 *   pd_plugin_create_decoder(pl, &info, cfg, params, &state) create() in a param scope
 *   pd_plugin_decoder_vtable(pl)->forward(state, ...)        every step
 *   vtable->destroy(state); pd_plugin_config_free(cfg);
 *   pd_plugins_unload_all()                                  at exit
 *
 * Search order for a bare name NAME (a name_or_path with no '/' and not
 * ending in ".so" is a bare name), trying DIR/NAME.so then DIR/NAME/NAME.so
 * in each DIR of:
 *   1. $PIXELDIT_PLUGIN_PATH (':'-separated), in order;
 *   2. the build tree's plugin folder, BUILD/plugins;
 *   3. the install folder, PREFIX/LIBDIR/pixeldit/plugins.
 * A plugin found by name must call itself NAME. A plugin already loaded (by
 * path, e.g. from `--plugin path.so`) is found by its name first.
 *
 * Loaded plugins stay resident (never dlclose'd) until
 * pd_plugins_unload_all(). The registry is process-wide and not locked:
 * load plugins from one thread, before training starts.
 */
#ifndef PIXELDIT_PLUGIN_HOST_H
#define PIXELDIT_PLUGIN_HOST_H

#include <stdio.h>

#include "pixeldit/config.h"
#include "pixeldit/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* A loaded, checked plugin (owned by the registry). */
typedef struct pd_plugin pd_plugin;

/* ---- host API table ---------------------------------------------------- */

/* The table handed to every create(): the library's own functions, except
 * param_add (prefix-checked, see pd_plugin_create_decoder) and log. */
const pd_host_api *pd_host_api_get(void);

/* Messages from plugins (host->log) at or below this level go to stderr
 * as "[warn] name: text". Default PD_LOG_INFO. Returns the previous level. */
int pd_host_set_log_level(int max_level);

/* ---- loading ----------------------------------------------------------- */

/* Finds (see the search order above), dlopens and checks a plugin.
 * expected_kind 0 accepts any kind. Loading the same file twice returns the
 * plugin already loaded. Refusals are PD_ERR_PLUGIN with one line naming
 * the file and what was expected and found, e.g.
 *   /p/old.so: ABI major version: expected 1, found 2
 * A refused file is closed again; nothing it returned is kept. */
pd_status pd_plugin_load(const char *name_or_path, pd_plugin_kind expected_kind, pd_plugin **out);

/* A loaded plugin by name, or NULL. */
pd_plugin *pd_plugin_find(const char *name);

/* dlcloses and frees every loaded plugin. Only when no state, config or
 * vtable pointer of any plugin is in use any more (at exit). */
void pd_plugins_unload_all(void);

/* "decoder", "loss", "attention", or "?" for anything else. */
const char *pd_plugin_kind_name(pd_plugin_kind kind);

/* ---- what a loaded plugin is ------------------------------------------- */

const char *pd_plugin_name(const pd_plugin *pl);
pd_plugin_kind pd_plugin_get_kind(const pd_plugin *pl);
/* The resolved absolute path of the file. */
const char *pd_plugin_path(const pd_plugin *pl);
const char *pd_plugin_version(const pd_plugin *pl);
/* The host's copy of the descriptor (members past the plugin's struct_size
 * read as zero). */
const pd_plugin_desc *pd_plugin_descriptor(const pd_plugin *pl);

/* The host's copies of the vtable (members past the plugin's struct_size
 * are NULL); NULL when the plugin is of another kind. */
const pd_decoder_vtable *pd_plugin_decoder_vtable(const pd_plugin *pl);
const pd_loss_vtable *pd_plugin_loss_vtable(const pd_plugin *pl);
const pd_attention_vtable *pd_plugin_attention_vtable(const pd_plugin *pl);

/* Config keys the host accepts for this plugin: its declared keys, plus,
 * for a loss plugin, the host key `weight` (float >= 0, default 1). */
int pd_plugin_key_count(const pd_plugin *pl);
const pd_plugin_key *pd_plugin_key_at(const pd_plugin *pl, int i);
const pd_plugin_key *pd_plugin_key_find(const pd_plugin *pl, const char *key);
/* "int", "float", "bool", "string", "enum", or "?". */
const char *pd_plugin_key_type_name(pd_key_type type);

/* ---- config binding ---------------------------------------------------- */

/* One "key = value" setting with where it came from, for messages. file
 * may be NULL ("config"); line 0 means no line (a --set override). */
typedef struct pd_plugin_setting {
    const char *key;
    const char *value;
    const char *file;
    int line;
} pd_plugin_setting;

/* Builds the resolved config of one plugin: every setting must be one of
 * its keys (pd_plugin_key_at), values are parsed and checked against the
 * key's type and `allowed`, keys not set keep their default, and a key set
 * twice keeps the last value. section ("decoder", "loss", ...) only words
 * messages. Errors are PD_ERR_CONFIG:
 *   cfg.ini:14: [decoder] unknown key 'widht' for plugin unet_decoder (its keys: base_width, mode)
 *   cfg.ini:15: [decoder] base_width = abc: expected an integer
 * entries may be NULL when n is 0 (all defaults). */
pd_status pd_plugin_config_build(const pd_plugin *pl, const char *section,
                                 const pd_plugin_setting *entries, int n, pd_plugin_config **out);
void pd_plugin_config_free(pd_plugin_config *cfg);

/* The plugin the config was built for. */
const pd_plugin *pd_plugin_config_plugin(const pd_plugin_config *cfg);
/* The resolved text of a key (as written, or the default); NULL if the
 * plugin has no such key. */
const char *pd_plugin_config_text(const pd_plugin_config *cfg, const char *key);
/* The host key `weight` of a loss plugin; 1.0 for other kinds. */
double pd_plugin_config_weight(const pd_plugin_config *cfg);

/* The resolved keys as INI lines "KEY_PREFIXkey = value\n" in declaration
 * order (key_prefix may be NULL; "v_loss." addresses one plugin of several
 * in [loss]), for checkpoint metadata. snprintf-style: returns the length
 * needed without the NUL, writes at most cap bytes, NUL-terminated when
 * cap > 0 (buf may be NULL when cap is 0). */
size_t pd_plugin_config_write(const pd_plugin_config *cfg, const char *key_prefix, char *buf,
                              size_t cap);

/* Typed reads, the same functions as host->cfg_* (see plugin.h). A read of
 * an undeclared key or of the wrong type returns 0 / false / NULL, sets the
 * error message and is remembered: the create wrapper below then fails. */
long pd_plugin_cfg_int(const pd_plugin_config *cfg, const char *key);
double pd_plugin_cfg_float(const pd_plugin_config *cfg, const char *key);
bool pd_plugin_cfg_bool(const pd_plugin_config *cfg, const char *key);
const char *pd_plugin_cfg_string(const pd_plugin_config *cfg, const char *key);

/* The glue to pd_config: binds the raw keys of one plugin section
 * ([decoder], [loss], [attention]) to the plugins loaded for it, in the
 * order of sec->plugins; fills out[0..n_plugins). A key written NAME.key
 * goes to the plugin called NAME; a plain key goes to the only plugin that
 * has it (an unknown, ambiguous or misaddressed key is PD_ERR_CONFIG with
 * its file and line; values are checked with the same wording as typed
 * keys). On failure every out[i] is NULL. */
pd_status pd_plugin_config_from_section(const pd_config *cfg, const pd_config_plugins *sec,
                                        pd_plugin *const *plugins, int n_plugins,
                                        pd_plugin_config **out);

/* ---- creating instances ------------------------------------------------ */

/* The prefix every parameter name of this plugin must start with:
 * "decoder." for decoders, "final_layer." for the built-in decoder named
 * jit_final_layer (it keeps JiT's checkpoint names); NULL for losses and
 * attention, which own no parameters. */
const char *pd_plugin_param_prefix(const pd_plugin *pl);

/* Calls the plugin's create() and checks what it did. cfg may be NULL
 * (all defaults); it must have been built for pl otherwise, and is only
 * read during create. While a decoder's create runs, host->param_add
 * accepts only `params` and names under pd_plugin_param_prefix(); outside
 * create it refuses everything. create fails (PD_ERR_PLUGIN, naming the
 * plugin) when it returns an error, when any param_add was refused or
 * failed, or when it read a config key it did not declare; in the last two
 * cases the host calls destroy() on the state it returned. Parameters
 * registered before a failure stay in `params`. */
pd_status pd_plugin_create_decoder(const pd_plugin *pl, const pd_model_info *info,
                                   const pd_plugin_config *cfg, pd_params *params, void **state);
pd_status pd_plugin_create_loss(const pd_plugin *pl, const pd_model_info *info,
                                const pd_plugin_config *cfg, void **state);
pd_status pd_plugin_create_attention(const pd_plugin *pl, const pd_model_info *info,
                                     const pd_plugin_config *cfg, void **state);

/* ---- calling forward (ABI 1.1: outputs are checked) --------------------- */

/* The host's only way into a plugin's forward. Each calls the vtable's
 * forward and checks its result against the contract in plugin.h:
 *   decoder    x_pred exactly in->z's shape (B, C, H, W)
 *   attention  the output exactly q's shape (B, H, N, d)
 *   loss       one value; parts->n in 0..PD_LOSS_MAX_PARTS, names [a-z0-9_]+
 * A wrong shape is PD_ERR_SHAPE set in ctx, naming kind, plugin, expected
 * and found shapes:
 *   decoder plugin my_head: x_pred: expected (B, C, H, W) = (8, 1, 32, 32), found (8, 32, 32, 1)
 * An error the plugin raised (or a NULL result without one) is prefixed
 * with "KIND plugin NAME: ". All return NULL when ctx already has an error.
 * The loss wrapper zeroes *parts before the call. */
pd_tensor *pd_plugin_decoder_forward(const pd_plugin *pl, void *state, pd_ctx *ctx,
                                     const pd_decoder_inputs *in);
pd_tensor *pd_plugin_attention_forward(const pd_plugin *pl, void *state, pd_ctx *ctx,
                                       pd_tensor *q, pd_tensor *k, pd_tensor *v, float scale);
pd_tensor *pd_plugin_loss_forward(const pd_plugin *pl, void *state, pd_ctx *ctx,
                                  const pd_loss_inputs *in, pd_loss_parts *parts);

/* ---- listing ----------------------------------------------------------- */

/* `pixeldit plugins [NAME]`: loads every *.so of the search directories
 * (also BUILD/plugins/<dir>/) and prints, for each, kind, name, version,
 * path, description and config keys (type, default, allowed, help); a file
 * that is refused is listed with the reason. only_name (or NULL) limits the
 * list to the plugins of that name; none found, or a file of that name
 * refused (after listing it), is PD_ERR_PLUGIN. Plugins
 * loaded this way stay in the registry. */
pd_status pd_plugins_print(FILE *out, const char *only_name);

/* The search directories in order (env, build tree, install folder); valid
 * until the next call. Returns the count, fills dirs[0..max). */
int pd_plugin_search_dirs(const char **dirs, int max);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
