/* The trainer: what one optimisation step needs, built once from a session
 * and a global batch size, and the step itself. Used by the training loop
 * (pd_train_run, so also ablate and MPI runs) and by `pixeldit bench`, so
 * that the benchmark times exactly what training runs. Internal to
 * libpixeldit. */
#ifndef PD_APP_TRAIN_STEP_H
#define PD_APP_TRAIN_STEP_H

#include <stdint.h>

#include "dist/dist_internal.h"
#include "pixeldit/checkpoint.h"
#include "pixeldit/session.h"
#include "pixeldit/train.h"

/* This process's part of a data-parallel step (pixeldit/dist.h): samples
 * [first, first + count) of a global batch of `global`. */
typedef struct pd_step_shard {
    int global, first, count;
    pd_grad_sync *sync; /* the flat gradient buffer, summed across ranks; NULL with one rank */
    bool stop;          /* in: this rank was asked to stop; out: some rank was */
    bool time_up;       /* in: this rank's clock says stop; out: some rank's does */
} pd_step_shard;

typedef struct pd_trainer {
    pd_session *s;          /* not owned; its model's weights as they are at open */
    pd_ctx *ctx;            /* training steps, at [train] precision (sampling stays fp32) */
    pd_adamw *opt;
    pd_ema *ema1, *ema2;    /* copies of the weights at open */
    pd_train_state st;      /* step, the RNG streams (key: t, noise, label drop, flips per global
                             * sample; dropout), data order; what a checkpoint saves */
    int rank, size;         /* pd_dist_rank / pd_dist_size */
    pd_step_shard shard;
    pd_grad_sync sync;      /* more than one rank */
    /* the batch of this rank, count samples (the config gives C, H, W): */
    float *x, *z;           /* (count, C, H, W): the images in; the noise drawn for them */
    float *t;               /* (count) */
    int *labels, *labels_dropped; /* (count) */
    uint8_t *flip;          /* (count): horizontal flips, for the data loop */
    int *idx;               /* (global): the data set indices of the global batch */
} pd_trainer;

/* Builds AdamW, both EMAs (from the model's current weights), the RNG
 * streams ([train] seed), this rank's shard of a global batch of `global`
 * with its gradient sync, the step context and the batch buffers. A
 * resumed run loads its checkpoint's state over these (pd_trainer_resume).
 * On failure the caller still calls pd_trainer_close. */
pd_status pd_trainer_open(pd_trainer *tr, pd_session *s, int global);
/* Loads the EMAs, optimiser moments and training state of a checkpoint
 * (the weights are loaded before open, so the EMAs start from them). */
pd_status pd_trainer_resume(pd_trainer *tr, const pd_st_file *f);
void pd_trainer_close(pd_trainer *tr);

/* One step, number st.step + 1, on the batch in tr->x, tr->labels: noising,
 * forward, losses, backward, [gradient all-reduce], AdamW at lr, both EMA
 * updates; then st.step++. *loss_out: total loss; parts[i]: loss i
 * unweighted (may be NULL); with several ranks both are means over the
 * global batch, and every rank returns an error when any rank fails in the
 * step (no rank is left waiting in the reduction). The step number keys
 * the per-sample randomness, names the step in a non-finite loss error and
 * is the EMA warm-up's clock. tr->shard carries the stop requests in and
 * out. */
pd_status pd_trainer_step(pd_trainer *tr, float lr, float *loss_out, float *parts);

/* Floats of the scalar tail a pd_grad_sync for pd_trainer_step needs. */
int pd_train_step_scalars(void);

#endif
