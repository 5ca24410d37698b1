/* One optimisation step of the trainer on a batch already in memory: used
 * by the training loop (pd_train_run) and by `pixeldit bench`, so that the
 * benchmark times exactly what training runs. Internal to libpixeldit. */
#ifndef PD_APP_TRAIN_STEP_H
#define PD_APP_TRAIN_STEP_H

#include "dist/dist_internal.h"
#include "pixeldit/session.h"
#include "pixeldit/train.h"

/* This process's part of a data-parallel step (pixeldit/dist.h): samples
 * [first, first + B) of a global batch of `global`. */
typedef struct pd_step_shard {
    int global, first;
    pd_grad_sync *sync; /* the flat gradient buffer, summed across ranks */
    bool stop;          /* in: this rank was asked to stop; out: some rank was */
    bool time_up;       /* in: this rank's clock says stop; out: some rank's does */
} pd_step_shard;

/* What a step updates; nothing here is owned by the step. */
typedef struct pd_step_parts {
    pd_session *s;
    pd_ctx *ctx;            /* reset at the start of the step */
    pd_adamw *opt;
    pd_ema *ema1, *ema2;
    const pd_rng *key;      /* t, noise and label drop, per global sample (pd_rng_derive) */
    pd_rng *dropout_rng;    /* the model's dropout and the decoder's training stream */
    pd_step_shard *shard;   /* NULL: one process, the whole batch */
} pd_step_parts;

/* Scratch and outputs of one step, all of batch B (the session's config
 * gives C, H, W): t (B), z (B, C, H, W), labels_dropped (B). */
typedef struct pd_step_buffers {
    float *t, *z;
    int *labels_dropped;
} pd_step_buffers;

/* Noising, forward, losses, backward, [gradient all-reduce], AdamW at lr,
 * both EMA updates, on x (B, C, H, W) with labels (B). *loss_out: total
 * loss; parts[i]: loss i unweighted (may be NULL); with a shard both are
 * means over the global batch. step_no (1-based, the global step) keys the
 * per-sample randomness, names the step in a non-finite loss error and is
 * the EMA warm-up's clock. With a shard, every rank returns an error when
 * any rank fails in the step (no rank is left waiting in the reduction). */
pd_status pd_train_step_batch(const pd_step_parts *p, const pd_step_buffers *buf, const float *x,
                              const int *labels, int B, float lr, long long step_no,
                              float *loss_out, float *parts);

/* Floats of the scalar tail a pd_grad_sync for pd_train_step_batch needs. */
int pd_train_step_scalars(void);

#endif
