/* pixeldit/config.h - typed settings for training and sampling, read from INI.
 *
 * A pd_config is filled in layers, each overriding the one before:
 *   1. pd_config_defaults(): the official JiT-B/16 values;
 *   2. INI text: pd_config_load_file() / pd_config_load_string(); a file may
 *      start from another with "[config] base = other.ini" (relative to
 *      that file; chains allowed, cycles refused): the base chain is
 *      loaded first, one layer per file, so later files win;
 *   3. command-line overrides "section.key=value": pd_config_set_all().
 * Inside one layer, "[model] preset = NAME" is applied first (it fills every
 * [model] key), then the other keys, wherever they sit in the file.
 * pd_config_validate() then checks keys against each other.
 *
 * [decoder], [loss] and [attention] pick plugins. Their `plugin` key is
 * typed; every other key is kept raw (text, file, line) in a
 * pd_config_plugins. The config never parses them: the plugin host
 * (core/plugin, pd_plugin_config_from_section) routes each to its plugin,
 * parses it by the key's declared type and words every error.
 *
 * A pd_config owns no heap memory: copy it with '='. A failed load or set
 * leaves it unchanged. Errors are PD_ERR_CONFIG, with a one-line message:
 *   small.ini:7: [model] patch_size = abc: expected an integer
 *   --set train.batch_size=x: expected an integer
 * pd_config_to_ini() writes the resolved config back as INI text that loads
 * into an equal config (checkpoints store it). docs/config.md is generated
 * from the same schema by pd_config_schema_markdown().
 */
#ifndef PIXELDIT_CONFIG_H
#define PIXELDIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "pixeldit/data.h"
#include "pixeldit/precision.h"
#include "pixeldit/status.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* inih reads lines of at most 198 characters; keys and values are sized so
 * that a line "key = value" written back by pd_config_to_ini() fits. */
#define PD_CONFIG_LINE_MAX 198
#define PD_CONFIG_KEY_MAX 48      /* raw plugin key, with the NUL */
#define PD_CONFIG_VALUE_MAX 192   /* string value or raw value, with the NUL */
#define PD_CONFIG_PRESET_MAX 16
#define PD_CONFIG_MAX_PLUGINS 4   /* plugins combined in one section ([loss]) */
#define PD_CONFIG_MAX_RAW 32      /* raw keys per plugin section */
#define PD_CONFIG_MAX_SOURCES 8   /* distinct files / strings / --set layers */
#define PD_CONFIG_MAX_KEYS 96     /* typed keys in the schema (upper bound) */

/* [sample] sampler; also pd_sample_config's (train.h includes this header).
 * The values are stored in checkpoints' configs as names, but keep them:
 * heun 0 and euler 1 are what older code wrote. Equations: docs/sampling.md. */
typedef enum pd_sampler_kind {
    PD_SAMPLER_HEUN = 0,    /* JiT's: Heun, last step Euler; velocity form */
    PD_SAMPLER_EULER = 1,   /* velocity form */
    PD_SAMPLER_DPMPP_2M = 2, /* DPM-Solver++(2M), data prediction, lambda = log(t / (1 - t)) */
    PD_SAMPLER_UNIPC = 3,   /* UniPC-bh2: UniP-2 predictor + UniC corrector (order 3) */
} pd_sampler_kind;
#define PD_SAMPLER_COUNT 4
/* The names, "|"-separated, in enum order (CLI help and choices). */
#define PD_SAMPLER_CHOICES "heun|euler|dpm++2m|unipc"

/* [sample] schedule: the time grid t_0 = 0 < ... < t_steps = 1. auto picks
 * each sampler's default (pd_schedule_resolve). */
typedef enum pd_sample_schedule {
    PD_SCHEDULE_AUTO = 0,
    PD_SCHEDULE_UNIFORM = 1,      /* torch.linspace(0, 1, steps + 1): JiT's grid */
    PD_SCHEDULE_LOGIT_NORMAL = 2, /* quantiles of JiT's training t ([diffusion] P_mean, P_std) */
    PD_SCHEDULE_LOGSNR = 3,       /* uniform in log(t / (1 - t)) on [-log 5n, log 5n] */
} pd_sample_schedule;
#define PD_SCHEDULE_COUNT 4
#define PD_SCHEDULE_CHOICES "auto|uniform|logit-normal|logsnr"
typedef enum pd_data_source { PD_DATA_IDX = 0, PD_DATA_FOLDER = 1, PD_DATA_PACKED = 2 } pd_data_source;
typedef enum pd_data_split { PD_SPLIT_TRAIN = 0, PD_SPLIT_TEST = 1 } pd_data_split;
/* How 28x28 IDX images reach image_size: data.h's pd_fit (pad | resize). */
typedef pd_fit pd_data_fit;

/* Where a value came from, for error messages. */
#define PD_CONFIG_FROM_DEFAULT (-1)
#define PD_CONFIG_FROM_PRESET (-2)
typedef struct pd_config_origin {
    int source; /* index into pd_config.sources, or PD_CONFIG_FROM_* */
    int line;   /* 1-based line in that source; 0 for a --set layer */
} pd_config_origin;

typedef struct pd_config_model {
    char preset[PD_CONFIG_PRESET_MAX]; /* "" = none */
    int image_size;
    int channels;
    int patch_size;
    int hidden_size;
    int depth;
    int num_heads;
    int bottleneck_dim;
    double mlp_ratio;
    int in_context_len;
    int in_context_start;
    int num_classes;
    double proj_dropout;
    double attn_dropout;
} pd_config_model;

typedef struct pd_config_diffusion {
    double P_mean;
    double P_std;
    double noise_scale;
    double t_eps;
    double label_drop_prob;
} pd_config_diffusion;

typedef struct pd_config_train {
    int batch_size;
    double lr;  /* 0: derive from blr, see pd_config_lr() */
    double blr;
    double weight_decay;
    double beta1;
    double beta2;
    double adam_eps;
    int warmup_steps;     /* 0: use warmup_epochs */
    double warmup_epochs;
    double grad_clip;     /* 0: off */
    double ema_decay1;
    double ema_decay2;
    bool ema_warmup;      /* decay at update t: min(decay, (1 + t) / (gamma + t)) */
    double ema_warmup_gamma; /* gamma of the warm-up (10: TensorFlow's, timm's) */
    int seed;
    bool hflip;
    int epochs;           /* 0: unbounded */
    int log_every;
    int ckpt_every;       /* 0: only at the end */
    int sample_every;     /* 0: off */
    int threads;          /* 0: all cores */
    bool fused_kernels;   /* false: composed reference ops (pd_ctx_set_fused) */
    pd_precision precision; /* GEMM precision of training steps */
    bool final_grid;      /* samples/final.png when training ends */
    int grid_steps;       /* sampling steps of training grids (preview and final) */
    int grid_per_class;   /* images per class in training grids */
} pd_config_train;

typedef struct pd_config_sample {
    pd_sampler_kind sampler;
    pd_sample_schedule schedule;
    int steps;
    double cfg;
    double cfg_interval_low;
    double cfg_interval_high;
    int seed;
    int per_class;
    int ema; /* 0 raw weights, 1 EMA 1, 2 EMA 2 */
} pd_config_sample;

typedef struct pd_config_data {
    pd_data_source source;
    char path[PD_CONFIG_VALUE_MAX];
    pd_data_split split;
    pd_data_fit fit;
    int limit; /* 0: all images */
    bool skip_corrupt; /* folders: skip and count undecodable images */
    bool verify;       /* packed: check the payload CRC-32 on open */
    int prefetch;      /* batches prepared ahead on a background thread; 0: off */
    bool stream;       /* folder: decode each batch's files when it is prepared */
} pd_config_data;

/* [eval]: evaluation during training, one fixed protocol for every point
 * of a run's curve (eval.csv; docs/eval.md). */
typedef enum pd_eval_weights { PD_EVAL_BOTH = 0, PD_EVAL_EMA1 = 1, PD_EVAL_RAW = 2 } pd_eval_weights;
typedef struct pd_config_eval {
    int every;               /* steps between evaluations; 0: off */
    int n;                   /* images sampled per evaluation */
    pd_sampler_kind sampler;
    int steps;               /* sampler steps */
    double cfg;              /* guidance scale (interval from [sample]) */
    int seed;                /* sampling noise, the same at every point */
    pd_eval_weights weights; /* EMA 1 and raw, or one of them */
} pd_config_eval;

/* One key of a plugin section other than `plugin`, kept as text. */
typedef struct pd_config_raw {
    char key[PD_CONFIG_KEY_MAX];
    char value[PD_CONFIG_VALUE_MAX];
    pd_config_origin origin;
} pd_config_raw;

/* [decoder], [loss] or [attention]. */
typedef struct pd_config_plugins {
    char section[16];  /* "decoder", "loss", "attention" */
    int n_plugins;     /* 1, or more for [loss] */
    char plugins[PD_CONFIG_MAX_PLUGINS][PD_CONFIG_VALUE_MAX]; /* name or .so path */
    int n_raw;
    pd_config_raw raw[PD_CONFIG_MAX_RAW]; /* in the order first set */
} pd_config_plugins;

typedef struct pd_config {
    pd_config_model model;
    pd_config_diffusion diffusion;
    pd_config_train train;
    pd_config_sample sample;
    pd_config_data data;
    pd_config_eval eval;
    pd_config_plugins decoder;
    pd_config_plugins loss;
    pd_config_plugins attention;
    /* Bookkeeping for messages: names of the layers loaded ("small.ini",
     * "--set") and where each typed key (schema order) was last set. */
    int n_sources;
    char sources[PD_CONFIG_MAX_SOURCES][PD_CONFIG_VALUE_MAX];
    pd_config_origin origin[PD_CONFIG_MAX_KEYS];
} pd_config;

/* Samplers and schedules (core/config/sampler_names.c) ----------------------- */

/* "heun", "euler", "dpm++2m", "unipc"; "?" for a value out of range. */
const char *pd_sampler_name(pd_sampler_kind k);
/* The kind of a name; PD_ERR_ARG (message lists PD_SAMPLER_CHOICES) otherwise. */
pd_status pd_sampler_from_name(const char *name, pd_sampler_kind *out);
/* Network evaluations per image of one sampling run of `steps` steps, before
 * the doubling of CFG inside the guidance interval: heun 2 steps - 1 (its last
 * step is Euler), the others steps (UniPC's corrector reuses the next step's
 * evaluation). 0 for steps < 1 or an unknown kind. */
int pd_sampler_nfe(pd_sampler_kind k, int steps);
/* The steps that give at most `nfe` evaluations per image (>= 1). */
int pd_sampler_steps_for_nfe(pd_sampler_kind k, int nfe);

const char *pd_schedule_name(pd_sample_schedule s);
pd_status pd_schedule_from_name(const char *name, pd_sample_schedule *out);
/* auto -> the sampler's default: uniform for every sampler (docs/sampling.md
 * says why); any other value is returned as it is. */
pd_sample_schedule pd_schedule_resolve(pd_sample_schedule s, pd_sampler_kind k);

/* Layers ------------------------------------------------------------------ */

/* Official JiT-B/16 values (preset ""), plugins jit_final_layer, v_loss, sdpa. */
void pd_config_defaults(pd_config *cfg);

/* Applies one INI file (with its [config] base chain) / string on top of
 * cfg. `name` labels messages. Strings may not name a base (checkpoints
 * store resolved text that reads no other file). */
pd_status pd_config_load_file(pd_config *cfg, const char *path);
pd_status pd_config_load_string(pd_config *cfg, const char *text, const char *name);

/* Applies "section.key=value" overrides as one layer (a model preset among
 * them first, then the rest in order; a repeated key: the last one wins). */
pd_status pd_config_set_all(pd_config *cfg, const char *const *assignments, int n);
pd_status pd_config_set(pd_config *cfg, const char *assignment);

/* Fills every [model] key from a named preset (see docs/config.md). */
pd_status pd_config_apply_preset(pd_config *cfg, const char *name);

/* Cross-field checks (image_size % patch_size, head dimension for RoPE, ...).
 * The model's shape rules are pd_jit_config_problem's (jit.h), reported here
 * with the file:line of the key at fault. */
pd_status pd_config_validate(const pd_config *cfg);

struct pd_jit_config;
/* The JiT model config a pd_config describes ([model], plus t_eps and
 * noise_scale from [diffusion]). */
void pd_config_jit(const pd_config *cfg, struct pd_jit_config *out);

/* Derived values ----------------------------------------------------------- */

/* train.lr, or train.blr * batch_size / 256 when lr = 0. */
double pd_config_lr(const pd_config *cfg);
/* train.warmup_steps, or round(warmup_epochs * steps_per_epoch) when it is 0. */
long pd_config_warmup_steps(const pd_config *cfg, long steps_per_epoch);

/* Text --------------------------------------------------------------------- */

/* Writes the fully resolved config as INI text (snprintf-style: returns the
 * length it needs without the NUL; writes at most cap bytes, NUL-terminated
 * when cap > 0; buf may be NULL when cap is 0). */
size_t pd_config_to_ini(const pd_config *cfg, char *buf, size_t cap);

/* True when every typed value, plugin list and raw key/value is equal
 * (where the values came from is ignored). */
bool pd_config_equal(const pd_config *a, const pd_config *b);

/* A typed key on which two configs disagree, with both values as INI text. */
typedef struct pd_config_difference {
    const char *section; /* "train" (static, from the schema) */
    const char *key;     /* "lr" */
    char a[PD_CONFIG_VALUE_MAX], b[PD_CONFIG_VALUE_MAX];
} pd_config_difference;

/* The keys outside the plugin sections ([decoder], [loss], [attention]) in
 * which a and b differ, in schema order: what a comparison of two runs
 * changes besides the plugins under test. Writes the first cap of them to
 * out (may be NULL when cap is 0) and returns how many there are. */
int pd_config_diff(const pd_config *a, const pd_config *b, pd_config_difference *out, int cap);

/* The schema (sections, keys, types, defaults, allowed values, help) and the
 * presets as Markdown: the text of docs/config.md. snprintf-style. */
size_t pd_config_schema_markdown(char *buf, size_t cap);

/* "Did you mean": the candidate nearest to a misspelt word (edit distance,
 * an adjacent swap counts one) within about one edit per three letters, or
 * NULL. Config errors use it for keys and sections; the command line for
 * option names. */
const char *pd_config_suggest(const char *word, const char *const *candidates, int n);

/* Plugin sections ------------------------------------------------------------ */

/* "decoder", "loss" or "attention"; NULL for any other name. */
const pd_config_plugins *pd_config_plugin_section(const pd_config *cfg, const char *section);
/* The raw entry with this key, or NULL. */
const pd_config_raw *pd_config_raw_find(const pd_config_plugins *sec, const char *key);
/* Name of the layer an entry came from ("cfg.ini", "--set"). */
const char *pd_config_origin_name(const pd_config *cfg, pd_config_origin origin);

/* Sets PD_ERR_CONFIG with the location of a raw entry / a typed key, then
 * the printf text: "cfg.ini:14: [decoder] width = 0: <text>". Returns
 * PD_ERR_CONFIG (PD_ERR_ARG for an unknown section.key). */
pd_status pd_config_fail_raw(const pd_config *cfg, const pd_config_plugins *sec,
                             const pd_config_raw *entry, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
pd_status pd_config_fail_key(const pd_config *cfg, const char *section, const char *key,
                             const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
