/* pixeldit/limits.h - upper bounds on every size that comes from a file or
 * a flag (configs, checkpoints, data sets, the command line), in the spirit
 * of SQLite's SQLITE_MAX_*. Values above a limit are refused with one line
 * naming the key or file before anything is allocated; sizes derived from
 * them are computed in 64 bits. docs/security.md lists them with reasons.
 * Each is far above any model this CPU trainer can run. */
#ifndef PIXELDIT_LIMITS_H
#define PIXELDIT_LIMITS_H

#include <stdint.h>

#include "pixeldit/status.h"

/* [model] */
#define PD_MAX_IMAGE_SIZE 4096      /* pixels per side */
#define PD_MAX_PATCH_SIZE 256
#define PD_MAX_HIDDEN_SIZE 16384    /* D */
#define PD_MAX_DEPTH 1024           /* blocks */
#define PD_MAX_HEADS 1024
#define PD_MAX_BOTTLENECK_DIM 16384
#define PD_MAX_MLP_RATIO 64.0
#define PD_MAX_IN_CONTEXT_LEN 4096
#define PD_MAX_CLASSES 100000
#define PD_MAX_TOKENS 65536         /* (image_size / patch_size)^2 + in_context_len */
/* parameters of the backbone (elements); training keeps 6 floats each
 * (weights, gradient, 2 EMAs, 2 AdamW moments): 24 GiB at the limit */
#define PD_MAX_PARAMS (INT64_C(1) << 30)
#define PD_MAX_PARAM_TENSORS (1 << 20)  /* named tensors in one model */
/* [train] / [sample] */
#define PD_MAX_BATCH 65536
#define PD_MAX_SAMPLE_STEPS 100000
#define PD_MAX_PER_CLASS 4096
#define PD_MAX_STEP (INT64_C(1) << 53) /* step counters in a checkpoint (exact as a double) */
/* files */
#define PD_MAX_ST_HEADER (16u << 20)   /* safetensors header bytes */
#define PD_MAX_ST_TENSORS 1000000      /* tensors in one safetensors header */
#define PD_MAX_ST_METADATA 4096        /* __metadata__ keys */
#define PD_MAX_DATASET_IMAGES 100000000
#define PD_MAX_EVAL_IMAGES 1000000     /* eval --n, ablate --n: images sampled and scored */
#define PD_MAX_PATH 4096               /* bytes, with the terminating NUL */

struct pd_jit_config;

/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* Backbone parameter count in 64 bits (no decoder); -1 if a size is not
 * positive. */
int64_t pd_jit_param_estimate(const struct pd_jit_config *c);
/* Checks a model config against the limits above and the machine's memory;
 * PD_ERR_CONFIG with the key named on failure. */
pd_status pd_limits_check_jit(const struct pd_jit_config *c);
#pragma GCC visibility pop

#endif
