/* Internals of core/eval shared by its files and its tests. */
#ifndef PD_EVAL_INTERNAL_H
#define PD_EVAL_INTERNAL_H

#include <stdio.h>

#include "pixeldit/eval.h"
#include "pixeldit/tensor.h"

/* Mean softmax cross-entropy of logits (B, K) against labels[B] in [0, K)
 * -> scalar: mean_b (logsumexp_k z_bk - z_b,y_b). Backward:
 * dz_bk = dL * (softmax_bk - [k == y_b]) / B. */
pd_tensor *pd_eval_cross_entropy(pd_ctx *ctx, pd_tensor *logits, const int *labels);

/* The network's forward pass on an arena tensor x (B, C, S, S): logits
 * (B, K); *features (B, PD_FEATNET_DIM) when features is non-NULL. */
pd_tensor *pd_featnet_forward(pd_featnet *net, pd_ctx *ctx, pd_tensor *x, pd_tensor **features);

/* 64-bit FNV-1a over bytes, continuing from h (start: PD_FNV_OFFSET). */
#define PD_FNV_OFFSET 0xcbf29ce484222325ull
uint64_t pd_fnv1a(uint64_t h, const void *data, size_t n);

/* ---- run records (run_record.c) ---- */

#define PD_RUN_RECORD_FORMAT "pixeldit-run-1"

/* What a run record says besides its curve (which is read from eval_csv). */
typedef struct pd_run_record {
    const char *name;         /* config label, e.g. "jitlike-unet" */
    const char *config_file;  /* as given to ablate */
    const char *key;          /* run_key: the config text, seed, budget and protocol hashed */
    const char *config_text;  /* the resolved config (INI) */
    const char *decoder, *losses;
    int seed, batch_size;
    long steps;
    double train_seconds;     /* this machine, any load: not the equal-compute clock */
    double params, flops;     /* trainable parameters; forward FLOPs per image */
    long n;                   /* the evaluation protocol */
    const char *sampler;
    int sample_steps, nfe, sample_seed;
    double cfg;
    double fd_floor, fd_ceiling;
    const char *eval_csv;     /* RUN/eval.csv */
} pd_run_record;

/* Writes the record as JSON (atomically, through NAME.tmp.<pid>). */
pd_status pd_run_record_write(const char *path, const pd_run_record *r);

/* The run folder DIR/<j>-<label>/seed<seed> (any position j) whose
 * run_key.txt holds key or legacy, into buf: the same run, made when its
 * config stood at another position of ablate's list (a study that grew,
 * a longer budget for some of its configs). False when there is none. */
bool pd_ablate_find_moved_run(const char *out_dir, const char *label, int seed, const char *key,
                              const char *legacy, char *buf, size_t size);

/* mkdir -p */
pd_status pd_eval_make_dir(const char *path);

#endif
