/* pixeldit/plugin_record.h - which plugins a checkpoint was made with.
 *
 * A checkpoint names its plugins, never their files: the metadata entry
 * "plugins" is "decoder=NAME@VERSION;attention=NAME@VERSION;loss=NAME@VERSION"
 * (one loss= per loss plugin), and the stored config says `plugin = NAME`.
 * Plugins are found through the normal search path (or given by the user
 * with --plugin PATH). A path in either place is refused: a file someone
 * hands you must not choose which code runs.
 *
 * One reader and one check, used by `train --resume`, `sample` and
 * `forward` (and anything else that opens a checkpoint).
 */
#ifndef PIXELDIT_PLUGIN_RECORD_H
#define PIXELDIT_PLUGIN_RECORD_H

#include "pixeldit/config.h"
#include "pixeldit/session.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

#define PD_PLUGIN_RECORD_MAX (2 + PD_SESSION_MAX_LOSSES)

typedef struct pd_plugin_record_entry {
    pd_plugin_kind kind;
    char name[64];     /* [a-z0-9_]+ */
    char version[64];  /* "MAJOR.MINOR.PATCH" or any text without ';' '@' '/' */
} pd_plugin_record_entry;

typedef struct pd_plugin_record {
    int n;             /* 0 for a checkpoint without a record */
    pd_plugin_record_entry e[PD_PLUGIN_RECORD_MAX];
} pd_plugin_record;

/* Bits for pd_plugin_record_check's `kinds`. */
#define PD_RECORD_DECODER (1u << PD_PLUGIN_DECODER)
#define PD_RECORD_LOSS (1u << PD_PLUGIN_LOSS)
#define PD_RECORD_ATTENTION (1u << PD_PLUGIN_ATTENTION)
#define PD_RECORD_ALL (PD_RECORD_DECODER | PD_RECORD_LOSS | PD_RECORD_ATTENTION)
/* What sampling and `forward` run: decoder and attention, no loss. */
#define PD_RECORD_MODEL (PD_RECORD_DECODER | PD_RECORD_ATTENTION)

/* Parses the "plugins" metadata of checkpoint `path` (text may be "" or
 * NULL: no record). PD_ERR_FORMAT with one line naming the entry, e.g.
 *   run/ck.safetensors: plugin record 'decoder=/tmp/x.so@1': expected a
 *   plugin name [a-z0-9_]+, found a path (a checkpoint names plugins, never files) */
pd_status pd_plugin_record_parse(const char *text, const char *path, pd_plugin_record *out);

/* The record of an open session (what pd_checkpoint_save stores). */
void pd_plugin_record_of(const pd_session *s, pd_plugin_record *out);
/* "decoder=NAME@VER;attention=...;loss=..."; snprintf-style. */
size_t pd_plugin_record_format(const pd_plugin_record *r, char *buf, size_t cap);

/* Checks the plugins of session s against the record, for the kinds in
 * `kinds` (PD_RECORD_*): the plugin of each recorded entry must be the one
 * the session uses, with the same major version. PD_ERR_PLUGIN, e.g.
 *   ck.safetensors: made with loss plugin freq_loss 1.2.0, found freq_loss 2.0.0 at
 *   /usr/lib/.../freq_loss.so (incompatible major version)
 * Another minor or patch version is allowed and described in `note` (may
 * be NULL; "" when nothing differs). */
pd_status pd_plugin_record_check(const pd_plugin_record *rec, const pd_session *s, unsigned kinds,
                                 const char *path, char *note, size_t note_cap);

/* Refuses a config read from checkpoint `path` whose [decoder], [loss] or
 * [attention] `plugin =` holds anything but plugin names (a path, "x.so"). */
pd_status pd_plugin_record_check_config(const pd_config *cfg, const char *path);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
