/* pixeldit/plugin.h - the whole plugin ABI in one header.
 *
 * A plugin is a shared object exporting one symbol,
 *
 *     const pd_plugin_desc *pixeldit_plugin_entry(void);
 *
 * that returns a static descriptor: ABI version, struct size, kind, name,
 * version, description, config keys and the kind's vtable. The host checks
 * all of it before calling anything else (see docs/plugins.md).
 *
 * Plugins do not link against libpixeldit: everything they need from the
 * host (tensor ops, custom ops, parameter registration, config values,
 * logging, RNG) comes in the pd_host_api table passed to create(). That
 * table and every struct here only ever grow at the end; each starts with
 * its own size so both sides can tell which members exist.
 *
 * Versioning: PD_PLUGIN_ABI_MAJOR changes on any incompatible change; the
 * host refuses a plugin whose major differs or whose minor is newer than
 * the host's. MINOR grows when members are appended.
 */
#ifndef PIXELDIT_PLUGIN_H
#define PIXELDIT_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "pixeldit/ops.h"
#include "pixeldit/params.h"
#include "pixeldit/rng.h"
#include "pixeldit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

#define PD_PLUGIN_ABI_MAJOR 1
#define PD_PLUGIN_ABI_MINOR 2 /* 1.1: outputs checked, loss parts logged, attention flops used; 1.2: fused norm + modulate (docs/plugins.md) */
#define PD_PLUGIN_ENTRY_SYMBOL "pixeldit_plugin_entry"

#if defined(_WIN32)
#define PD_PLUGIN_EXPORT __declspec(dllexport)
#else
#define PD_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

typedef enum pd_plugin_kind {
    PD_PLUGIN_DECODER = 1,   /* backbone tokens -> predicted image */
    PD_PLUGIN_LOSS = 2,      /* prediction + batch -> scalar loss */
    PD_PLUGIN_ATTENTION = 3  /* q, k, v -> attention output */
} pd_plugin_kind;

/* ---- config keys a plugin declares ------------------------------------ */

typedef enum pd_key_type {
    PD_KEY_INT = 1,
    PD_KEY_FLOAT = 2,
    PD_KEY_BOOL = 3,
    PD_KEY_STRING = 4,
    PD_KEY_ENUM = 5  /* one of the '|'-separated words in `allowed` */
} pd_key_type;

/* BOOL values are true/false/yes/no/on/off/1/0. Every loss plugin also has
 * the host key `weight` (float >= 0, default 1), so a loss may not declare
 * a key named weight. The host refuses a plugin whose keys break these rules
 * or whose defaults do not parse.
 *
 * No struct_size here, on purpose: keys come as an array, whose stride the
 * host must know before it can read any member, so a size inside the
 * element could not say it. The layout is fixed for ABI 1.x; a later minor
 * that needs more per key would add a second array to the descriptor (which
 * has its own struct_size), and the host reads this one as it is. */
typedef struct pd_plugin_key {
    const char *name;          /* [a-z0-9_]+ (< 48 chars), unique within the plugin */
    pd_key_type type;
    const char *default_value; /* text, parsed like a config value; never NULL */
    const char *help;          /* one line */
    const char *allowed;       /* ENUM: "a|b|c"; INT/FLOAT: "min..max" (either
                                  bound may be empty: "0..") or NULL; NULL
                                  for BOOL/STRING */
} pd_plugin_key;

/* The plugin's resolved settings (defaults + config), opaque; read through
 * the host API. Keys were validated against the declaration before create. */
typedef struct pd_plugin_config pd_plugin_config;

/* ---- what the host tells a plugin about the model --------------------- */

typedef struct pd_model_info {
    size_t struct_size;
    int image_size;    /* H = W */
    int channels;      /* C */
    int patch_size;    /* p */
    int grid;          /* image_size / p */
    int num_tokens;    /* N = grid * grid (image tokens, no in-context) */
    int hidden_size;   /* D */
    int num_heads;
    int head_dim;
    int depth;
    int num_classes;   /* the null class id is num_classes */
    float t_eps;       /* clamp of 1 - t in the velocity */
    float noise_scale;
} pd_model_info;

/* ---- the host API ------------------------------------------------------- */

enum { PD_LOG_ERROR = 0, PD_LOG_WARN = 1, PD_LOG_INFO = 2, PD_LOG_DEBUG = 3 };

typedef struct pd_host_api {
    size_t struct_size;
    uint32_t abi_major, abi_minor;

    /* logging and errors */
    void (*log)(int level, const char *fmt, ...);
    pd_status (*ctx_fail)(pd_ctx *ctx, pd_status s, const char *fmt, ...);
    pd_status (*fail)(pd_status s, const char *fmt, ...);

    /* tensors and custom ops (see tensor.h) */
    pd_tensor *(*tensor_empty)(pd_ctx *ctx, const int *shape, int ndim);
    pd_tensor *(*tensor_zeros)(pd_ctx *ctx, const int *shape, int ndim);
    pd_tensor *(*tensor_from)(pd_ctx *ctx, const float *data, const int *shape, int ndim);
    pd_tensor *(*view)(pd_ctx *ctx, pd_tensor *t, const int *shape, int ndim);
    void *(*ctx_alloc)(pd_ctx *ctx, size_t bytes);
    bool (*ctx_recording)(const pd_ctx *ctx);
    bool (*ctx_training)(const pd_ctx *ctx);
    pd_tensor *(*op_apply)(pd_ctx *ctx, const pd_op_def *def, pd_tensor *const *in, int n_in,
                           const int *out_shape, int out_ndim, const void *attr, size_t attr_size);

    /* parameters (decoders only), flags from params.h. Only valid inside
     * the decoder's create(), on the `params` it was given: the host runs
     * create() inside a per-thread registration scope that knows the
     * plugin, so this one shared table can check that names start with
     * the plugin's prefix ("decoder.", or "final_layer." for the built-in
     * jit_final_layer). A refused or failed call returns NULL with the
     * message set, and makes create() fail even if it returns PD_OK. */
    pd_tensor *(*param_add)(pd_params *p, const char *name, const int *shape, int ndim,
                            unsigned flags);

    /* config values of this plugin (the declared default when not set);
     * read them in create(): cfg lives only as long as that call. cfg_float
     * also reads INT keys, cfg_string reads any key as its text. Reading a
     * key the plugin did not declare, or with the wrong type, returns 0 /
     * false / NULL and makes create() fail. */
    long (*cfg_int)(const pd_plugin_config *cfg, const char *key);
    double (*cfg_float)(const pd_plugin_config *cfg, const char *key);
    bool (*cfg_bool)(const pd_plugin_config *cfg, const char *key);
    const char *(*cfg_string)(const pd_plugin_config *cfg, const char *key);

    /* random numbers */
    void (*rng_normal)(pd_rng *r, float *out, size_t n, float mean, float std);
    void (*rng_uniform)(pd_rng *r, float *out, size_t n, float lo, float hi);

    /* ops (see ops.h for shapes and semantics) */
    pd_tensor *(*linear)(pd_ctx *, pd_tensor *x, pd_tensor *w, pd_tensor *b);
    pd_tensor *(*matmul)(pd_ctx *, pd_tensor *a, pd_tensor *b, int trans);
    pd_tensor *(*add)(pd_ctx *, pd_tensor *a, pd_tensor *b);
    pd_tensor *(*sub)(pd_ctx *, pd_tensor *a, pd_tensor *b);
    pd_tensor *(*mul)(pd_ctx *, pd_tensor *a, pd_tensor *b);
    pd_tensor *(*div)(pd_ctx *, pd_tensor *a, pd_tensor *b);
    pd_tensor *(*affine)(pd_ctx *, pd_tensor *x, float alpha, float beta);
    pd_tensor *(*modulate)(pd_ctx *, pd_tensor *x, pd_tensor *shift, pd_tensor *scale);
    pd_tensor *(*gated_residual)(pd_ctx *, pd_tensor *x, pd_tensor *gate, pd_tensor *h);
    pd_tensor *(*silu)(pd_ctx *, pd_tensor *x);
    pd_tensor *(*gelu)(pd_ctx *, pd_tensor *x, bool tanh_approx);
    pd_tensor *(*swiglu)(pd_ctx *, pd_tensor *x);
    pd_tensor *(*softmax)(pd_ctx *, pd_tensor *x);
    pd_tensor *(*dropout)(pd_ctx *, pd_tensor *x, float p, pd_rng *rng);
    pd_tensor *(*rmsnorm)(pd_ctx *, pd_tensor *x, pd_tensor *w, float eps);
    pd_tensor *(*layernorm)(pd_ctx *, pd_tensor *x, pd_tensor *w, pd_tensor *b, float eps);
    pd_tensor *(*sdpa)(pd_ctx *, pd_tensor *q, pd_tensor *k, pd_tensor *v, float scale);
    pd_tensor *(*rope)(pd_ctx *, pd_tensor *x, const pd_rope_table *tab);
    pd_tensor *(*embedding)(pd_ctx *, pd_tensor *table, const int *ids, int n);
    pd_tensor *(*concat)(pd_ctx *, pd_tensor *const *xs, int n, int axis);
    pd_tensor *(*slice)(pd_ctx *, pd_tensor *x, int axis, int start, int len);
    pd_tensor *(*reshape)(pd_ctx *, pd_tensor *x, const int *shape, int ndim);
    pd_tensor *(*permute)(pd_ctx *, pd_tensor *x, const int *perm);
    pd_tensor *(*patchify)(pd_ctx *, pd_tensor *img, int p, pd_patch_layout layout);
    pd_tensor *(*unpatchify)(pd_ctx *, pd_tensor *tok, int C, int H, int W, int p,
                             pd_patch_layout layout);
    pd_tensor *(*conv2d)(pd_ctx *, pd_tensor *x, pd_tensor *w, pd_tensor *b, int stride, int pad);
    pd_tensor *(*conv_transpose2x2)(pd_ctx *, pd_tensor *x, pd_tensor *w, pd_tensor *b);
    pd_tensor *(*maxpool2x2)(pd_ctx *, pd_tensor *x);
    pd_tensor *(*upsample_bilinear)(pd_ctx *, pd_tensor *x, int out_h, int out_w, bool align_corners);
    pd_tensor *(*sum)(pd_ctx *, pd_tensor *x);
    pd_tensor *(*mean)(pd_ctx *, pd_tensor *x);
    pd_tensor *(*sum_axis)(pd_ctx *, pd_tensor *x, int axis);
    pd_tensor *(*mean_axis)(pd_ctx *, pd_tensor *x, int axis);
    pd_tensor *(*mse)(pd_ctx *, pd_tensor *a, pd_tensor *b);

    /* ABI 1.1 */
    /* The model's configured attention: runs the attention plugin the model
     * was built with (bound on ctx for the duration of the model's forward),
     * or the exact sdpa when no model is running on ctx (e.g. in a plugin's
     * standalone test). q (B, H, N, d), k and v (B, H, M, d) -> (B, H, N, d),
     * after qk-norm and RoPE, as pd_attention_vtable.forward. For decoders
     * that attend, so a faster attention plugin speeds them up too. */
    pd_tensor *(*attention)(pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v, float scale);
    /* pd_rope_table_init_2d and pd_rope_table_free of ops.h: JiT's 2D RoPE
     * table (the backbone's) for a rope op on a token grid. A table made by
     * rope_table_init_2d must be freed by rope_table_free. A plugin may also
     * fill a pd_rope_table itself (cos/sin it owns) for another variant. */
    pd_status (*rope_table_init_2d)(pd_rope_table *tab, int grid_h, int grid_w, int dim,
                                    int n_prefix, float theta);
    void (*rope_table_free)(pd_rope_table *tab);
    pd_tensor *(*sqrt)(pd_ctx *, pd_tensor *x);
    pd_tensor *(*abs)(pd_ctx *, pd_tensor *x);
    pd_tensor *(*exp)(pd_ctx *, pd_tensor *x);
    pd_tensor *(*ln)(pd_ctx *, pd_tensor *x); /* pd_log ("log" is the logger above) */
    pd_tensor *(*tanh)(pd_ctx *, pd_tensor *x);
    pd_tensor *(*sigmoid)(pd_ctx *, pd_tensor *x);
    pd_tensor *(*clamp)(pd_ctx *, pd_tensor *x, float lo, float hi);
    pd_tensor *(*pow)(pd_ctx *, pd_tensor *x, float exponent);
    pd_tensor *(*pixel_shuffle)(pd_ctx *, pd_tensor *x, int r);
    pd_tensor *(*pixel_unshuffle)(pd_ctx *, pd_tensor *x, int r);
    pd_tensor *(*upsample_nearest)(pd_ctx *, pd_tensor *x, int fh, int fw);
    pd_tensor *(*conv2d_grouped)(pd_ctx *, pd_tensor *x, pd_tensor *w, pd_tensor *b, int stride,
                                 int pad, int groups);

    /* ABI 1.2: fused norm + modulate, one pass over x each way instead of
     * two ops (pd_rmsnorm_modulate / pd_layernorm_modulate of ops.h). Same
     * result as modulate(rmsnorm(x, w, eps), shift, scale) and
     * modulate(layernorm(x, w, b, eps), shift, scale) to rounding; shift,
     * scale (B, D) or x's shape, w, b (D) or NULL, shift may be NULL. When
     * the host's fused kernels are off (parity runs) they run composed. */
    pd_tensor *(*rmsnorm_modulate)(pd_ctx *, pd_tensor *x, pd_tensor *w, pd_tensor *shift,
                                   pd_tensor *scale, float eps);
    pd_tensor *(*layernorm_modulate)(pd_ctx *, pd_tensor *x, pd_tensor *w, pd_tensor *b,
                                     pd_tensor *shift, pd_tensor *scale, float eps);
    /* new members are appended here; check struct_size before using them */
} pd_host_api;

/* ---- decoder ----------------------------------------------------------------- */

typedef struct pd_decoder_inputs {
    size_t struct_size;
    pd_tensor *tokens;  /* (B, N, D) backbone output, in-context tokens removed */
    pd_tensor *t_emb;   /* (B, D) timestep embedding */
    pd_tensor *y_emb;   /* (B, D) class embedding (null class after a CFG drop) */
    pd_tensor *c;       /* (B, D) t_emb + y_emb, JiT's adaLN conditioning */
    pd_tensor *t;       /* (B,) flow time in [0, 1], no gradient */
    pd_tensor *z;       /* (B, C, H, W) noisy input image, no gradient */

    /* ABI 1.1: read only when struct_size > offsetof(pd_decoder_inputs, rng) */
    pd_rng *rng;        /* training randomness (noise injection, stochastic depth...);
                           NULL when not training (sampling, eval, `pixeldit forward`):
                           treat NULL as eval mode. It is the trainer's training stream
                           (the one JiT's dropout draws from), seeded from train.seed and
                           saved in every checkpoint, so a run and its resume draw the
                           same numbers. Draw in forward only, in a fixed order (not from
                           parallel threads), and keep no pointer to it. */
} pd_decoder_inputs;

typedef struct pd_decoder_vtable {
    size_t struct_size;
    /* Required. Reads its config, registers its parameters in `params`
     * (names under "decoder.", except the built-in JiT final layer which
     * keeps "final_layer.*"), and returns its state. */
    pd_status (*create)(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, pd_params *params, void **state);
    /* Required. Initialises the parameters of a fresh model. */
    pd_status (*init_weights)(void *state, pd_rng *rng);
    /* Required. Returns x_pred (B, C, H, W), or NULL with the error set in
     * ctx. Runs in the host's grad mode (no-grad while sampling). */
    pd_tensor *(*forward)(void *state, pd_ctx *ctx, const pd_decoder_inputs *in);
    /* Optional (NULL): forward FLOPs per image, for info and benchmarks. */
    double (*flops)(void *state);
    /* Required. Frees the state (never the parameters: the host owns them). */
    void (*destroy)(void *state);
} pd_decoder_vtable;

/* ---- loss ------------------------------------------------------------------------- */

typedef struct pd_loss_inputs {
    size_t struct_size;
    pd_tensor *x_pred;  /* (B, C, H, W) model prediction of the clean image */
    pd_tensor *x;       /* (B, C, H, W) clean image, no gradient */
    pd_tensor *z;       /* (B, C, H, W) noisy input, no gradient */
    pd_tensor *t;       /* (B,) flow time, no gradient */
    pd_tensor *v;       /* (B, C, H, W) target velocity (x - z) / max(1 - t, t_eps) */
    pd_tensor *v_pred;  /* (B, C, H, W) predicted velocity, same formula on x_pred */
    const int *labels;  /* (B) class ids after label drop */
    int batch;
} pd_loss_inputs;

/* No struct_size here, on purpose: the host allocates and zeroes this
 * struct and the plugin only fills it, so the host always knows its size,
 * and a plugin built against any 1.x writes the same members at the same
 * offsets. The layout (and PD_LOSS_MAX_PARTS) is fixed for ABI 1.x. */
#define PD_LOSS_MAX_PARTS 4
typedef struct pd_loss_parts {
    int n;
    const char *name[PD_LOSS_MAX_PARTS]; /* static strings, e.g. "freq" */
    float value[PD_LOSS_MAX_PARTS];      /* unweighted values, for logging */
} pd_loss_parts;

typedef struct pd_loss_vtable {
    size_t struct_size;
    /* Required. Loss plugins own no parameters. */
    pd_status (*create)(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, void **state);
    /* Required. Returns the scalar loss (unweighted: the host multiplies by
     * the plugin's `weight`), or NULL with the error set in ctx. May add
     * named parts for logging (parts may be NULL). */
    pd_tensor *(*forward)(void *state, pd_ctx *ctx, const pd_loss_inputs *in,
                          pd_loss_parts *parts);
    /* Required. */
    void (*destroy)(void *state);
} pd_loss_vtable;

/* ---- attention ------------------------------------------------------------------------- */

typedef struct pd_attention_vtable {
    size_t struct_size;
    /* Required. */
    pd_status (*create)(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, void **state);
    /* Required. q (B, H, N, d), k and v (B, H, M, d), after qk-norm and
     * RoPE -> (B, H, N, d). Must be differentiable: build it from host
     * ops, or register a custom op with its own backward via op_apply. */
    pd_tensor *(*forward)(void *state, pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v,
                          float scale);
    /* Optional (NULL): forward FLOPs for one call at these sizes. */
    double (*flops)(void *state, int B, int H, int N, int M, int d);
    /* Required. */
    void (*destroy)(void *state);
} pd_attention_vtable;

/* ---- the descriptor ----------------------------------------------------------------- */

typedef struct pd_plugin_desc {
    uint32_t abi_major;          /* PD_PLUGIN_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;          /* PD_PLUGIN_ABI_MINOR */
    size_t struct_size;          /* sizeof(pd_plugin_desc) */
    pd_plugin_kind kind;
    const char *name;            /* [a-z0-9_]+ (< 64 chars), unique among loaded
                                    plugins; the file is NAME.so */
    const char *version;         /* e.g. "1.0.0" */
    const char *description;     /* one line */
    const pd_plugin_key *keys;   /* n_keys entries (NULL when 0) */
    int n_keys;
    const void *vtable;          /* pd_decoder_vtable / pd_loss_vtable /
                                    pd_attention_vtable, by kind */
} pd_plugin_desc;

typedef const pd_plugin_desc *(*pd_plugin_entry_fn)(void);

/* Convenience for plugin authors: fills the ABI fields of a descriptor.
 * PD_PLUGIN_DESC_INIT for designated initializers (preferred, 1.1):
 *   static const pd_plugin_desc desc = {PD_PLUGIN_DESC_INIT, .kind = ..., .name = ...};
 * PD_PLUGIN_DESC_HEADER for positional ones (1.0 style). */
#define PD_PLUGIN_DESC_INIT                                                           \
    .abi_major = PD_PLUGIN_ABI_MAJOR, .abi_minor = PD_PLUGIN_ABI_MINOR,               \
    .struct_size = sizeof(pd_plugin_desc)
#define PD_PLUGIN_DESC_HEADER PD_PLUGIN_ABI_MAJOR, PD_PLUGIN_ABI_MINOR, sizeof(pd_plugin_desc)

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
