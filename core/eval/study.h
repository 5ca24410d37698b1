/* A study on disk (internal to core/eval): the run records of one regime,
 * results/<study>/<config>/seed<k>.json, and the step times measured for
 * its configs by `pixeldit bench --json`, results/<study>/bench/<config>*.json.
 * Loaded by study_load.c, summarised by study_stats.c, written out by
 * report.c. */
#ifndef PD_EVAL_STUDY_H
#define PD_EVAL_STUDY_H

#include <stdbool.h>

#include "pixeldit/status.h"

enum { STUDY_MAX_CONFIGS = 32, STUDY_MAX_SEEDS = 32, STUDY_MAX_POINTS = 512 };

/* The metrics of a curve point that the report compares. */
typedef enum { M_FD, M_KID, M_FD_RAND, M_PRECISION, M_RECALL, M_CLASS_ACC, M_GRID, N_METRICS } study_metric;
extern const char *const study_metric_key[N_METRICS];   /* the record's names: "fd", ... */
extern const char *const study_metric_label[N_METRICS]; /* for tables: "FD", ... */

/* One run's curve for the chosen weights. */
typedef struct {
    int seed;
    long steps;               /* trained */
    int n_points;
    double step[STUDY_MAX_POINTS];
    double v[N_METRICS][STUDY_MAX_POINTS];
    char commit[48];
    char machine[160];        /* "cpu, kernel, threads" */
    double fd_floor, fd_ceiling;
} study_run;

typedef struct {
    char name[64];            /* "jitlike-unet" */
    char decoder[64], losses[128];
    double params, flops;
    int n_runs;
    study_run *runs;          /* (n_runs), sorted by seed */
    double step_time;         /* seconds per step from bench (median over files); 0: none */
    int bench_files;
    char bench_machine[200];
} study_config;

typedef struct {
    char name[64];            /* folder name, e.g. "jitlike" */
    char path[512];
    int n_configs;
    study_config configs[STUDY_MAX_CONFIGS]; /* the baseline first, then by name */
    char protocol[160];       /* "n 500, euler 10 steps (10 NFE), cfg 2, seed 0" */
    int batch_size;
} study;

/* Loads every record of dir (config folders holding seed*.json) with the
 * curves of `weights` ("ema1" or "raw"), and the bench files. The config
 * named `baseline` (NULL: the folder's own name) comes first; it must exist. */
pd_status study_load(const char *dir, const char *baseline, const char *weights, study *out);
void study_free(study *s);

/* Linear interpolation of run r's metric m at step s; NAN outside the
 * curve. */
double study_at(const study_run *r, study_metric m, double s);

/* True when run r goes past step S (a run continued for longer). */
bool study_run_past(const study_run *r, double S);

/* The last step every run of the study reached: the equal-steps point. */
double study_common_steps(const study *s);
/* Config c's name without the baseline's prefix: "jitlike-unet" -> "unet"
 * when config 0 is "jitlike"; the baseline itself -> "". */
const char *study_suffix(const study *s, int c);

/* Paired comparison of config c with the baseline (configs[0]) on the seeds
 * both have, at steps s_c for c and s_0 for the baseline: mean and sample
 * sd of c's values, of the differences, and the two-sided 95% t interval
 * of the mean difference. n = pairs used (0: none). */
typedef struct {
    int n;
    double mean, sd;          /* c's values */
    double base_mean;
    double diff, diff_sd, lo, hi;
} study_pair;
study_pair study_compare(const study *s, int c, study_metric m, double s_c, double s_0);

/* 0.975 quantile of Student's t with df degrees of freedom. */
double study_t975(int df);

#endif
