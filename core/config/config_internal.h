/* config_internal.h - the config schema and helpers shared by core/config/.
 *
 * One table (config_schema.c) lists every typed key: where it lives in
 * pd_config, its type, default (as INI text), allowed range and help. The
 * parser, the writer, the validator and the Markdown generator all walk it,
 * so a key is declared once.
 */
#ifndef PD_CONFIG_INTERNAL_H
#define PD_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "pixeldit/config.h"
#include "value_text.h"

/* Files in one [config] base chain, the including file counted. A deeper
 * chain is a mistake; this also keeps a chain plus a --set layer within
 * PD_CONFIG_MAX_SOURCES. */
#define PD_CFG_BASE_CHAIN_MAX 7

typedef enum cfg_type {
    CFG_INT,
    CFG_FLOAT,   /* stored as double */
    CFG_BOOL,
    CFG_ENUM,    /* stored as an int-sized C enum; choices in enum order */
    CFG_STRING,  /* char[size] */
    CFG_PRESET,  /* [model] preset: a name from the preset table, or "" */
    CFG_PLUGINS  /* `plugin` of a plugin section: pd_config_plugins at offset */
} cfg_type;

typedef struct cfg_key {
    const char *section;
    const char *name;
    cfg_type type;
    size_t offset;              /* into pd_config */
    size_t size;                /* bytes of the field */
    const char *def;            /* default, as INI text */
    double min, max;            /* INT/FLOAT bounds (±HUGE_VAL: none) */
    bool min_open, max_open;    /* FLOAT: exclusive bounds */
    const char *const *choices; /* ENUM names; INT: allowed values as text */
    const char *help;           /* one line for docs/config.md */
} cfg_key;

typedef struct cfg_section {
    const char *name;
    bool plugin;      /* keys other than `plugin` are raw */
    const char *help; /* one line */
} cfg_section;

/* Schema (config_schema.c). */
extern const cfg_key pd_cfg_keys[];
extern const int pd_cfg_n_keys;
extern const cfg_section pd_cfg_sections[];
extern const int pd_cfg_n_sections;
int pd_cfg_section_index(const char *name);             /* -1 if unknown */
int pd_cfg_key_index(const char *section, const char *name); /* -1 if unknown */

/* Presets (config_presets.c). */
typedef struct cfg_preset {
    const char *name;
    const char *help;
    pd_config_model model;
} cfg_preset;
extern const cfg_preset pd_cfg_presets[];
extern const int pd_cfg_n_presets;
const cfg_preset *pd_cfg_preset_find(const char *name);
void pd_cfg_preset_fill(pd_config *cfg, const cfg_preset *p); /* model keys + origins */

/* Values (config_value.c). Parses text for key k into cfg; on failure
 * returns false and writes what is allowed ("expected an integer >= 1"). */
bool pd_cfg_value_parse(const cfg_key *k, const char *text, pd_config *cfg,
                        char *why, size_t why_cap);
/* Writes the value of k in cfg as INI text; compact drops optional spaces
 * (plugin lists) so long values still fit one line. */
void pd_cfg_value_format(const cfg_key *k, const pd_config *cfg, bool compact,
                         char *out, size_t cap);
/* Range check of a value already in cfg (set by code, not parsed). */
bool pd_cfg_value_check(const cfg_key *k, const pd_config *cfg, char *why, size_t why_cap);
/* "an integer >= 1", "one of heun, euler", ... */
void pd_cfg_value_allowed(const cfg_key *k, char *out, size_t cap);
bool pd_cfg_parse_int(const char *text, int *out);
bool pd_cfg_parse_double(const char *text, double *out);
bool pd_cfg_parse_bool(const char *text, bool *out);
void pd_cfg_format_double(double v, char *out, size_t cap); /* shortest exact */
pd_config_plugins *pd_cfg_plugins_at(pd_config *cfg, const cfg_key *k);

/* "Did you mean": pd_config_suggest (public, include/pixeldit/config.h). */

/* Messages (config_plugins.c). Location prefix of an origin:
 *   "small.ini:7: [model] patch_size = 3: " / "--set model.patch_size=3: " /
 *   "[model] patch_size = 16 (default): " */
void pd_cfg_where(const pd_config *cfg, pd_config_origin o, const char *section,
                  const char *key, const char *value, char *out, size_t cap);
pd_status pd_cfg_vfail_key_index(const pd_config *cfg, int key_index, const char *fmt,
                                 va_list ap);
pd_status pd_cfg_fail_key_index(const pd_config *cfg, int key_index, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Registers a layer name; returns its index or -1 when the table is full. */
int pd_cfg_source_add(pd_config *cfg, const char *name);

/* A checked assignment, ready to apply (config_apply.c). */
typedef struct cfg_item {
    int section;   /* index into pd_cfg_sections */
    int key_index; /* schema index, -1 for a raw plugin key */
    char key[PD_CONFIG_KEY_MAX];
    char value[PD_CONFIG_VALUE_MAX];
    int line;      /* 0 for --set */
} cfg_item;

/* Checks one assignment (section known, key known, value valid, lengths)
 * and appends it; `where` prefixes messages. On error sets the message and
 * returns it; the caller keeps only the first error. */
typedef struct cfg_items {
    cfg_item *v;
    int n, cap;
    pd_config *scratch; /* values are test-parsed here */
} cfg_items;
pd_status pd_cfg_items_add(cfg_items *items, int section, const char *key, const char *value,
                           int line, const char *source_name);
void pd_cfg_items_free(cfg_items *items);
/* Applies checked items as one layer named source_name (atomic). */
pd_status pd_cfg_apply_items(pd_config *cfg, const cfg_items *items, const char *source_name);

/* Section list for messages: "model, diffusion, ..., attention". */
void pd_cfg_section_list(char *out, size_t cap);

/* snprintf-style text appender shared by the INI writer and the doc
 * generator: counts everything, writes what fits. */
typedef struct cfg_text {
    char *buf;
    size_t cap, len;
} cfg_text;
void cfg_text_put(cfg_text *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
