/* pixeldit/checkpoint.h - safetensors checkpoints.
 *
 * One file holds:
 *   <name>             model parameters under the official JiT names
 *                      (loadable by PyTorch JiT's load_state_dict)
 *   ema1.<name>        EMA copy 1 (decay ema_decay1; used for sampling)
 *   ema2.<name>        EMA copy 2
 *   optim.m.<name>     AdamW first moments (trainable params only)
 *   optim.v.<name>     AdamW second moments
 * and metadata: format, config (the resolved INI text), step, RNG and data
 * order state, plugins (kind=name@version list), optimiser step count.
 * Writes are atomic (temp file + rename).
 */
#ifndef PIXELDIT_CHECKPOINT_H
#define PIXELDIT_CHECKPOINT_H

#include "pixeldit/data.h"
#include "pixeldit/params.h"
#include "pixeldit/rng.h"
#include "pixeldit/safetensors.h"
#include "pixeldit/train.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

#define PD_CKPT_FORMAT "pixeldit-checkpoint-1"

/* Training state beyond the tensors: restoring it makes a resumed run
 * continue exactly as an uninterrupted one. */
typedef struct pd_train_state {
    int64_t step;             /* optimiser steps done */
    pd_rng rng;               /* key of noise, t, label drop, flips (pd_rng_derive) */
    pd_rng dropout_rng;
    pd_shuffler_state data;   /* epoch order and position */
    double train_seconds;     /* wall time spent training so far */
} pd_train_state;

typedef struct pd_checkpoint {
    pd_params *params;
    pd_ema *ema1, *ema2;      /* may be NULL */
    pd_adamw *opt;            /* may be NULL */
    const char *config_ini;   /* resolved config text */
    const char *plugins;      /* "decoder=jit_final_layer@1.0.0;loss=v_loss@1.0.0;..." */
    pd_train_state state;
} pd_checkpoint;

pd_status pd_checkpoint_save(const char *path, const pd_checkpoint *ck);

/* Strict load of tensors "<prefix><name>" for every parameter into dst
 * buffers (the parameters themselves when dst_of is NULL); a missing
 * tensor or a shape mismatch is an error naming the tensor and both
 * shapes. */
pd_status pd_checkpoint_load_params(const pd_st_file *f, pd_params *p, const char *prefix);
/* Loads EMA copies, optimiser moments and the training state saved by
 * pd_checkpoint_save (whatever of ck is non-NULL). */
pd_status pd_checkpoint_load_training(const pd_st_file *f, pd_checkpoint *ck);
/* Reads the metadata needed before building the model. */
pd_status pd_checkpoint_read_meta(const pd_st_file *f, const char **config_ini,
                                  const char **plugins);

/* Opens the checkpoint at path (*f, which the caller closes, also on
 * failure) and builds its model session s: the config from its metadata,
 * decoder and attention plugins only, found by the names the checkpoint
 * records after loading `plugins` (names or paths the user gives); a
 * plugin path stored in the checkpoint is refused (it would choose code to
 * run). Checks the recorded plugin versions (a warning on stderr for a
 * difference that is allowed, and for a given plugin the model does not
 * run), then loads the weights chosen by ema (0 raw, 1 ema1, 2 ema2). On
 * failure s is closed and the message starts with what failed ("cannot
 * read checkpoint: ...", "cannot use checkpoint: ...", "cannot load
 * weights: ..."). */
struct pd_session;
pd_status pd_session_open_checkpoint(struct pd_session *s, const char *path, int ema,
                                     const char *const *plugins, int n_plugins, pd_st_file **f);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
