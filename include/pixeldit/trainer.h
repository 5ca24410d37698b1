/* pixeldit/trainer.h - the training loop and sample-grid writing used by
 * the `pixeldit` command (train, sample). */
#ifndef PIXELDIT_TRAINER_H
#define PIXELDIT_TRAINER_H

#include "pixeldit/limits.h"
#include "pixeldit/session.h"
#include "pixeldit/train.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

typedef struct pd_train_opts {
    const pd_config *cfg;     /* resolved config (plugins from --plugin already in it) */
    const char *out_dir;      /* checkpoints, samples, log.csv */
    int64_t max_steps;        /* steps to run now; 0: until [train] epochs (or forever) */
    double max_minutes;       /* wall-clock bound; 0: none */
    const char *resume;       /* checkpoint to continue from, or NULL */
    int verbose;              /* 0 quiet, 1 normal */
    bool force;               /* a fresh run may replace the run in out_dir */
} pd_train_opts;

typedef struct pd_train_result {
    int64_t step;             /* global step reached */
    float last_loss;
    double images_per_s;
    char checkpoint[PD_MAX_PATH]; /* last checkpoint written (out_dir is bounded to fit) */
} pd_train_result;

/* Runs training. Stops at max_steps / max_minutes / epochs, on a NaN or
 * inf loss (PD_ERR_NUMERIC; the last good checkpoint is kept, nothing is
 * overwritten), or when pd_train_request_stop() is called (a checkpoint is
 * saved first; returns PD_ERR_INTERRUPTED). */
pd_status pd_train_run(const pd_train_opts *o, pd_train_result *res);
/* Async-signal-safe: asks the running loop to save and stop. Returns 1 if
 * steps are running (the stop saves a checkpoint first: wait for it), 0 if
 * nothing is at stake (set-up, or after the last save): a signal handler
 * may then end the process at once. */
int pd_train_request_stop(void);

/* Samples per_class images for each class id in classes[n_classes] with
 * the session's model as it is (load the wanted weights first), rows =
 * classes, and writes a grid PNG (grid_path, may be NULL) and/or one PNG
 * per image (dir, may be NULL). */
pd_status pd_sample_grid(pd_session *s, const pd_sample_config *sc, const int *classes,
                         int n_classes, int per_class, uint64_t seed, const char *grid_path,
                         const char *dir, bool progress);

/* The sampler settings of a config. */
void pd_sample_config_from(const pd_config *cfg, pd_sample_config *out);

/* EMA `which` (1 or 2) after `step` steps still holds decay^step of the
 * initial weights, whose adaLN and final layer are zero, so its samples look
 * fainter early in a run. When that share is 5% or more, writes a
 * one-line note saying so and what to do into buf and returns true. */
bool pd_ema_young_note(const pd_config *cfg, int which, long long step, char *buf, size_t size);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
