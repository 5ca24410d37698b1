/* pixeldit/eval.h - sample quality: the feature network, Frechet distance,
 * class accuracy, the patch-grid score, and the ablation runner behind
 * `pixeldit eval` and `pixeldit ablate`. Formulas: docs/eval.md.
 *
 * The feature network is a small CNN classifier trained once per data set
 * and image size with pixeldit's own autodiff, seeded and deterministic for
 * a thread count, and cached as safetensors. Everything that reads a cache
 * file checks it (names, shapes, the data set key) and refuses a mismatch.
 */
#ifndef PIXELDIT_EVAL_H
#define PIXELDIT_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pixeldit/config.h"
#include "pixeldit/data.h"
#include "pixeldit/status.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* ---- feature network ------------------------------------------------------- */

#define PD_FEATNET_FORMAT "pixeldit-featnet-1"
#define PD_FEATNET_DIM 128 /* features at the penultimate layer */

typedef struct pd_featnet pd_featnet;

typedef struct pd_featnet_train_opts {
    int epochs;          /* passes over the training split (default 4) */
    int batch;           /* default 128 */
    double lr;           /* AdamW learning rate (default 2e-3, cosine to 0) */
    uint64_t seed;       /* weights and data order (default 0) */
    int limit;           /* use the first `limit` training images (0: all) */
    bool progress;       /* progress lines on stderr */
} pd_featnet_train_opts;

pd_featnet_train_opts pd_featnet_train_defaults(void);

/* What a feature network is for: the data set (its name and a 64-bit
 * FNV-1a hash of the training split's pixels and labels at this size), the
 * image shape and the class count. */
typedef struct pd_featnet_key {
    char dataset[64];    /* e.g. "fashion-mnist-pad" */
    uint64_t data_hash;
    int channels, size, num_classes;
} pd_featnet_key;

/* The key of a loaded data set (name chosen by the caller). */
void pd_featnet_key_of(const pd_dataset *train, const char *name, pd_featnet_key *out);

/* Builds an untrained network for key (weights drawn from seed). */
pd_featnet *pd_featnet_new(const pd_featnet_key *key, uint64_t seed);
void pd_featnet_free(pd_featnet *net);
const pd_featnet_key *pd_featnet_get_key(const pd_featnet *net);

/* Trains on `train` (whose key must match) and returns the accuracy on
 * `test` in *test_acc (test may be NULL). */
pd_status pd_featnet_train(pd_featnet *net, const pd_dataset *train, const pd_dataset *test,
                           const pd_featnet_train_opts *o, double *test_acc);

/* Saves / loads the weights with the key and test accuracy as metadata.
 * Load checks the format, every tensor name and shape, and that the file's
 * key equals `expect` (a different data set, size or class count is
 * PD_ERR_FORMAT naming both). */
pd_status pd_featnet_save(const pd_featnet *net, const char *path, double test_acc);
pd_status pd_featnet_load(const char *path, const pd_featnet_key *expect, pd_featnet **out,
                          double *test_acc);

/* Features (n, PD_FEATNET_DIM) and logits (n, num_classes) of images
 * (n, C, S, S) in [-1, 1]; either output may be NULL. */
pd_status pd_featnet_apply(pd_featnet *net, const float *imgs, int n, float *features,
                           float *logits);

/* $XDG_CACHE_HOME/pixeldit (or ~/.cache/pixeldit), created if missing, and
 * the cache file of a key in it: featnet-<dataset>-<S>px.safetensors. */
pd_status pd_featnet_cache_path(const pd_featnet_key *key, char *buf, size_t size, bool create);

/* The evaluation data of a config: the train and test splits at the
 * model's size, and the key name ("fashion-mnist-pad", or the folder's
 * name for PNG folders, which have one split: test = train). */
pd_status pd_eval_load_data(const pd_config *cfg, pd_dataset **train, pd_dataset **test,
                            char *name, size_t name_size);

/* ---- metrics ---------------------------------------------------------------- */

/* Mean (d) and covariance (d, d) of n feature rows (n, d), in double,
 * covariance with the n - 1 denominator (numpy.cov). n >= 2. */
typedef struct pd_gauss_stats {
    int d;
    long n;
    double *mu;     /* (d) */
    double *sigma;  /* (d, d) */
} pd_gauss_stats;

pd_status pd_gauss_stats_compute(const float *feats, long n, int d, pd_gauss_stats *out);
void pd_gauss_stats_free(pd_gauss_stats *s);

/* Frechet distance between N(mu1, S1) and N(mu2, S2):
 *   |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1^1/2 S2 S1^1/2)
 * in double; the square roots from LAPACK dsyev (eigenvalues below zero,
 * rounding noise of PSD matrices, are clamped to zero). */
pd_status pd_frechet_distance(const pd_gauss_stats *a, const pd_gauss_stats *b, double *out);

/* Kernel Inception Distance (unbiased squared MMD, cubic polynomial kernel
 * k(a, b) = (a.b / d + 1)^3) between features x (n, d) and y (m, d), in
 * double. pd_kid_self_sum gives the reference's sum over i != j of
 * k(y_i, y_j) once, for pd_kid_with_ref. n, m >= 2. docs/eval.md. */
pd_status pd_kid(const float *x, long n, const float *y, long m, int d, double *out);
pd_status pd_kid_self_sum(const float *y, long m, int d, double *out);
pd_status pd_kid_with_ref(const float *x, long n, const float *y, long m, int d, double yy_sum,
                          double *out);

/* Improved precision and recall (Kynkaanniemi et al. 2019) of generated
 * features fake (nf, d) against real (nr, d) with k-nearest-neighbour
 * manifolds (k = 3 in pixeldit's evaluation; 1 <= k <= 64, more than k
 * rows per set). docs/eval.md. */
pd_status pd_precision_recall(const float *real, long nr, const float *fake, long nf, int d, int k,
                              double *precision, double *recall);

/* Fraction of rows of logits (n, k) whose argmax is labels[i]. */
double pd_class_accuracy(const float *logits, const int *labels, int n, int k);

/* Patch-grid score of images (n, C, H, W) for patch size p (docs/eval.md):
 * the mean power spectrum P over images and channels, then
 *   G = sum over grid lines (u = jW/p or v = jH/p, j = 1..p-1) of P,
 *   N = half the sum of P on the lines next to them (u +- 1, v +- 1),
 *   score = G / N.
 * About 1 for natural images; above 1 when patches share a pattern. */
pd_status pd_patch_grid_score(const float *imgs, int n, int C, int H, int W, int p, double *out);

/* ---- evaluation ------------------------------------------------------------- */

/* The metrics of one feature space (docs/eval.md). */
typedef struct pd_eval_space {
    double fd;              /* Frechet distance, samples vs the test split */
    double kid;             /* unbiased KID, samples vs the test split */
    double precision;       /* k = 3 manifolds, the first min(n, 5000) samples ... */
    double recall;          /* ... against as many test images */
} pd_eval_space;

typedef struct pd_eval_result {
    long n;
    double fd;              /* samples vs the test split (= cls.fd) */
    pd_eval_space cls;      /* the trained classifier's features */
    pd_eval_space rnd;      /* a random-weights CNN's features (never trained) */
    double class_acc;       /* < 0: no labels (images from a folder) */
    double grid_score;      /* samples */
    double grid_score_real; /* the test split (reference, about 1) */
    double fd_floor;        /* n real training images vs the test split (< 0: not measured) */
    double fd_ceiling;      /* an untrained model's samples (< 0: not measured) */
    double featnet_acc;     /* the feature network's test accuracy */
    double seconds;         /* sampling + features */
    double images_per_s;    /* of sampling */
} pd_eval_result;

typedef void (*pd_eval_progress_fn)(const char *what, long done, long total, double seconds,
                                    void *user);

/* Everything an evaluation of generated images needs from the real data,
 * computed once: the feature network, test-split statistics and grid score. */
typedef struct pd_eval_ref {
    pd_featnet *net;
    double featnet_acc;
    pd_dataset *train, *test;
    pd_gauss_stats test_stats;
    pd_featnet *rand_net;       /* the same architecture, seeded weights, not trained */
    pd_gauss_stats rand_stats;  /* test statistics in that space */
    float *test_feats;          /* (test n, PD_FEATNET_DIM), classifier space */
    float *rand_feats;          /* (test n, PD_FEATNET_DIM), random space, standardised */
    double rand_mu[PD_FEATNET_DIM], rand_inv_sd[PD_FEATNET_DIM]; /* its per-dimension standardiser */
    double kid_yy, rand_kid_yy; /* pd_kid_self_sum of each */
    double grid_score_real;
    int patch;
} pd_eval_ref;

/* Seed of the random-weights feature network (docs/eval.md): fixed, so
 * its feature space is the same for every run and machine. */
#define PD_EVAL_RAND_SEED 20251207u
/* k of the precision/recall manifolds, and the most rows per set. */
#define PD_EVAL_PR_K 3
#define PD_EVAL_PR_MAX 5000

/* Loads the cached feature network for cfg's data (PD_ERR_IO with
 * "run `pixeldit eval --train-features ...`" when there is none) and the
 * reference statistics. patch: the model's patch size (for the grid score). */
pd_status pd_eval_ref_open(pd_eval_ref *r, const pd_config *cfg, int patch);
void pd_eval_ref_close(pd_eval_ref *r);

/* Scores images (n, C, S, S) in [-1, 1]; labels (n) or NULL. */
pd_status pd_eval_images(pd_eval_ref *r, const float *imgs, long n, const int *labels,
                         pd_eval_result *out);
/* FD of n real training images (the first n of a seeded permutation)
 * against the test split: the floor of the scale at this n. */
pd_status pd_eval_fd_floor(pd_eval_ref *r, long n, uint64_t seed, double *out);

/* Draws n class-balanced samples (labels i % num_classes) from a model
 * whose weights are loaded, into imgs (n, C, S, S) and labels (n). */
struct pd_session;
struct pd_sample_config;
pd_status pd_eval_sample(struct pd_session *s, const struct pd_sample_config *sc, long n,
                         uint64_t seed, float *imgs, int *labels, pd_eval_progress_fn progress,
                         void *user);

/* Writes result and settings as a JSON object. */
pd_status pd_eval_write_json(const char *path, const pd_eval_result *r, const char *source,
                             const char *sampler, int steps, double cfg, int ema, uint64_t seed);

/* `pixeldit eval` as one call: opens a checkpoint the way sample and
 * forward do (pd_session_open_checkpoint: a plugin path stored in it is
 * refused), sets the config's thread count, samples n class-balanced
 * images with the checkpoint's [sample] settings and the overrides below
 * (or reads the PNGs of a folder instead), scores them against the cached
 * feature network's reference (pd_eval_ref_open), measures the FD floor at
 * this n and, with ceiling, an untrained model's FD from the same
 * sampling; writes the report and the JSON when asked. A message names the
 * step that failed ("eval: ...", "ceiling: ...", "--json: ..."). */
typedef struct pd_eval_run_opts {
    const char *ckpt;           /* sample from this checkpoint (its config names the data) ... */
    const char *images;         /* ... or score the *.png files of this folder (no class accuracy) */
    const pd_config *cfg;       /* the data set's config when there is no ckpt (resolved, validated) */
    int ema;                    /* the checkpoint's weights: 1 EMA 1, 2 EMA 2, 0 raw */
    const char *const *plugins; /* plugin names or paths the checkpoint needs, (n_plugins) */
    int n_plugins;
    long n;                     /* images to sample, 2..PD_MAX_EVAL_IMAGES */
    const char *sampler;        /* overrides of [sample]; NULL, NULL, 0, < 0, < 0 keep it */
    const char *schedule;
    int steps;
    double cfg_scale;
    int64_t seed;
    bool ceiling;               /* also the untrained model's FD (a checkpoint, no images) */
    const char *json;           /* also write the numbers here (pd_eval_write_json), or NULL */
    FILE *report;               /* the human-readable result (stdout for the CLI), or NULL */
    bool progress;              /* the settings line and progress on stderr */
} pd_eval_run_opts;

/* out (may be NULL) gets the numbers. */
pd_status pd_eval_run(const pd_eval_run_opts *o, pd_eval_result *out);

/* ---- drawing ------------------------------------------------------------------- */

/* One PNG with labelled panels side by side (cairo): panel i shows
 * imgs[i] (n_i, C, S, S) as a grid of cols columns under labels[i]. */
pd_status pd_eval_montage(const char *path, const float *const *imgs, const int *n_imgs,
                          const char *const *labels, int panels, int C, int S, int cols);


/* ---- ablation ------------------------------------------------------------------- */

/* `pixeldit ablate`: every config trained from the same seed(s) for the
 * same budget, then evaluated with the same sampling. */
typedef struct pd_ablate_opts {
    int n_configs;
    const pd_config *configs;   /* resolved and validated, (n_configs) */
    const char *const *names;   /* labels (config file names), (n_configs) */
    double minutes;             /* training budget per run: wall clock ... */
    long steps;                 /* ... or optimiser steps (exactly one > 0) */
    int seeds;                  /* runs per config, seeds seed0 .. seed0 + seeds - 1 */
    int seed0;                  /* also the evaluation's sampling seed */
    /* The evaluation protocol is the first config's [eval], the same for
     * every config, with these overrides: */
    long eval_every;            /* curve points every N steps (0: [eval] every, or only the end) */
    long n;                     /* images per evaluation (0: [eval] n) */
    int sampler;                /* pd_sampler_kind (-1: [eval] sampler) */
    int sample_steps;           /* 0: [eval] steps */
    double cfg_scale;           /* < 0: [eval] cfg */
    int ema;                    /* weights in the table: 0 raw, 1 EMA 1 (both are in the records) */
    const char *out_dir;
    const char *results_dir;    /* also RESULTS/<name>/seed<k>.json (NULL: none) */
    int verbose;
    int threads;                /* > 0: overrides [train] threads; not in the run key (the
                                   thread count moves results by rounding only) */
} pd_ablate_opts;

/* Runs (or resumes: runs whose record exists in out_dir or results_dir
 * with the same settings are read back, not repeated; a run cut short
 * continues from its checkpoint) and writes out_dir/ablation.md,
 * ablation.json and ablation.png. */
pd_status pd_ablate_run(const pd_ablate_opts *o);
/* Async-signal-safe: stops the current training run (it saves) and the
 * ablation after it. */
void pd_ablate_request_stop(void);

/* The machine as a JSON object, {"cpu": "model name", "kernel": uname -r,
 * "threads": N, "blas_core": OpenBLAS's kernel}: what every run record and
 * bench file names so that another machine's numbers can be told apart. */
void pd_machine_json(FILE *f);

/* ---- the study report ---------------------------------------------------------- */

/* `pixeldit report`: regenerates the results page from study folders
 * (results/<study>/<config>/seed<k>.json from ablate --results, and
 * results/<study>/bench/<config>*.json from pixeldit bench --json): the
 * verdict table, per-regime tables at equal steps and equal compute with
 * paired 95% intervals, and the plots. */
typedef struct pd_report_opts {
    int n_studies;
    const char *const *studies; /* study folders; each one's baseline is the config named like the folder */
    const char *out;            /* the markdown page */
    const char *plot_dir;       /* where the PNGs go */
    const char *plot_link;      /* how the page links to plot_dir (NULL: plot_dir) */
    const char *notes;          /* the design notes' predictions (INI: [suffix] mechanism, fid_gain, overhead) */
    const char *text;           /* markdown appended after the tables (hand-written reading), or NULL */
    const char *weights;        /* "ema1" (NULL) or "raw" */
    const char *command;        /* the command line, quoted in the page */
} pd_report_opts;
pd_status pd_report_write(const pd_report_opts *o);

/* The keys (section.key) whose resolved values differ between configs,
 * outside [decoder], [loss] and [attention], as "section.key: v0 | v1 | ..."
 * lines into buf (empty when none), built on pd_config_diff (config.h).
 * snprintf-style return. */
size_t pd_ablate_config_diff(const pd_config *configs, int n, char *buf, size_t cap);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
