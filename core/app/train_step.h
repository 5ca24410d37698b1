/* One optimisation step of the trainer on a batch already in memory: used
 * by the training loop (pd_train_run) and by `pixeldit bench`, so that the
 * benchmark times exactly what training runs. Internal to libpixeldit. */
#ifndef PD_APP_TRAIN_STEP_H
#define PD_APP_TRAIN_STEP_H

#include "pixeldit/session.h"
#include "pixeldit/train.h"

/* What a step updates; nothing here is owned by the step. */
typedef struct pd_step_parts {
    pd_session *s;
    pd_ctx *ctx;            /* reset at the start of the step */
    pd_adamw *opt;
    pd_ema *ema1, *ema2;
    pd_rng *rng;            /* t, noise and label drop (after any hflip draw) */
    pd_rng *dropout_rng;
} pd_step_parts;

/* Scratch and outputs of one step, all of batch B (the session's config
 * gives C, H, W): t (B), z (B, C, H, W), labels_dropped (B). */
typedef struct pd_step_buffers {
    float *t, *z;
    int *labels_dropped;
} pd_step_buffers;

/* Noising, forward, losses, backward, AdamW at lr, both EMA updates, on
 * x (B, C, H, W) with labels (B). *loss_out: total loss; parts[i]: loss i
 * unweighted (may be NULL). step_no (1-based, the global step) names the
 * step in a non-finite loss error and is the EMA warm-up's clock. */
pd_status pd_train_step_batch(const pd_step_parts *p, const pd_step_buffers *buf, const float *x,
                              const int *labels, int B, float lr, long long step_no,
                              float *loss_out, float *parts);

#endif
