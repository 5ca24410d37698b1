/* pixeldit/bench.h - speed of the real training step, the no-grad forward
 * pass and the sampler on synthetic data of a config's shape, next to the
 * machine's own sgemm peak (`pixeldit bench`).
 *
 * Every timing is a wall-clock time per call, kept as the median and the
 * minimum of `steps` timed calls after `warmup` untimed ones. FLOPs are
 * analytic: pd_jit_flops_per_image for one forward pass, and a training
 * step counted as 3 forward passes (forward + backward ~ 2x forward).
 */
#ifndef PIXELDIT_BENCH_H
#define PIXELDIT_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include "pixeldit/config.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* Called before each phase and after each timed call (may be NULL):
 * phase "train", "forward", "sample" or "peak"; done of total calls. */
typedef void (*pd_bench_progress_fn)(const char *phase, int done, int total, void *user);

typedef struct pd_bench_opts {
    const pd_config *cfg;      /* resolved and validated (plugins included) */
    int batch;                 /* images per step; 0: [train] batch_size */
    int steps;                 /* timed calls per measurement, >= 1 */
    int warmup;                /* untimed calls first, >= 0 */
    int threads;               /* 0: [train] threads (0 there: all cores) */
    int sample_steps;          /* sampler steps; 0: [sample] steps; < 0: skip sampling */
    int sample_batch;          /* images per sampling call; 0: batch */
    int sample_reps;           /* timed sampling calls (no warm-up: the forward one is); 0: 1 */
    bool skip_peak;            /* do not measure the sgemm peak */
    bool profile;              /* print per-op forward/backward times of the timed training steps */
    pd_bench_progress_fn progress;
    void *user;
    bool fp32_onednn;          /* fp32 products through oneDNN's matmul instead of OpenBLAS
                                  (the bf16 backend's code path; PD_ERR_ARG without oneDNN) */
} pd_bench_opts;

/* Seconds per call. */
typedef struct pd_bench_time {
    double median_s, min_s;
    int n;                     /* timed calls (0: not measured) */
} pd_bench_time;

/* A measured sgemm: C (m, n) = A (m, k) @ B^T (n, k), as pd_linear runs it. */
typedef struct pd_bench_gemm {
    int m, n, k;
    double gflops;             /* best of the repetitions */
} pd_bench_gemm;

typedef struct pd_bench_result {
    int batch, threads;
    const char *blas_core;
    size_t params;              /* trainable parameters */
    double flops_per_image;     /* one forward pass, analytic */
    float last_loss;            /* of the last training step (finite) */
    pd_bench_time train;        /* one optimizer step of `batch` images */
    pd_bench_time forward;      /* one no-grad forward pass of `batch` images */
    pd_bench_time sample;       /* one sampling call of `sample_batch` images */
    int sample_steps, sample_batch;
    double sample_evals;        /* image forward passes per sampling call (CFG doubles some) */
    pd_bench_gemm peak_square;  /* 2048^3 */
    pd_bench_gemm peak_model;   /* the model's widest GEMM: SwiGLU w12 over the batch's tokens */
    double peak_rss_mib;        /* getrusage ru_maxrss after training, forward and sampling */
    /* Under MPI (pixeldit/dist.h): `batch` is the global batch, split over
     * `ranks` processes; only training is timed (forward, sampling and the
     * peak are per process and skipped, n = 0). */
    int ranks;
    pd_bench_time reduce;       /* per training step: inside the gradient all-reduce */
} pd_bench_result;

pd_status pd_bench_run(const pd_bench_opts *o, pd_bench_result *r);

/* Best GFLOP/s of `reps` calls of the sgemm above (operands filled once). */
pd_status pd_bench_sgemm(int m, int n, int k, int reps, pd_bench_gemm *out);

/* Median of v[0..n) (sorts v in place); 0 for n = 0. */
double pd_bench_median(double *v, int n);

/* Derived numbers (0 where a time was not measured). */
double pd_bench_train_images_per_s(const pd_bench_result *r, bool use_min);
double pd_bench_forward_images_per_s(const pd_bench_result *r, bool use_min);
double pd_bench_sample_images_per_s(const pd_bench_result *r, bool use_min);
/* Achieved GFLOP/s at the median time; training counts 3 forward passes. */
double pd_bench_train_gflops(const pd_bench_result *r);
double pd_bench_forward_gflops(const pd_bench_result *r);
double pd_bench_sample_gflops(const pd_bench_result *r);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
