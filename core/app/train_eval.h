/* Evaluation during training (internal): every [eval] every steps and at
 * the last step, the run samples a fixed set of images with one protocol
 * (n, sampler, steps, cfg, seed: the same noise and labels every time) from
 * EMA 1 and/or the raw weights, scores them (eval.h) and appends one row
 * per weights to eval.csv in the run folder. Its time is not training
 * time: the trainer leaves it out of train_seconds. */
#ifndef PD_TRAIN_EVAL_H
#define PD_TRAIN_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "pixeldit/eval.h"
#include "pixeldit/session.h"
#include "pixeldit/train.h"

typedef struct pd_train_eval {
    pd_eval_ref ref;
    bool ref_open;
    char *path;             /* RUN/eval.csv */
    FILE *csv;
    float *imgs;            /* (n, C, S, S) */
    int *labels;            /* (n) */
    double train_flops_per_image; /* 3 x the forward's: forward + backward */
    int64_t last_step;      /* step of the last row written */
} pd_train_eval;

/* Loads the feature networks and reference statistics and opens
 * RUN/eval.csv: a fresh run writes the header; a resumed one cuts the file
 * back to resume_step. Nothing to do (PD_OK, nothing opened) when [eval]
 * every = 0. */
pd_status pd_train_eval_open(pd_train_eval *te, const pd_session *s, const char *run_dir, bool resume,
                             int64_t resume_step);

/* One evaluation point: samples and scores with the weights [eval] weights
 * names (EMA 1 swapped in and back), appends the rows, flushes.
 * images_seen and train_seconds describe the training so far. *seconds
 * gets the time it took. */
pd_status pd_train_eval_point(pd_train_eval *te, pd_session *s, pd_ema *ema1, int64_t step,
                              int64_t images_seen, double train_seconds, bool verbose, double *seconds);

void pd_train_eval_close(pd_train_eval *te);

/* The eval.csv header (the column names), for readers. */
extern const char pd_train_eval_header[];

#endif
