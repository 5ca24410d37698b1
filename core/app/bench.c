/* `pixeldit bench`: times the trainer's own step (train_step.c), a no-grad
 * forward pass and the sampler on synthetic data, and the machine's sgemm
 * peak in the same process. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "pixeldit/bench.h"
#include "gemm.h" /* the shape log (core/ops) */
#include "pixeldit/dist.h"
#include "pixeldit/runtime.h"
#include "pixeldit/trainer.h"
#include "train_step.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double pd_bench_median(double *v, int n) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void summarise(double *times, int n, pd_bench_time *out) {
    out->n = n;
    out->median_s = pd_bench_median(times, n); /* sorted now: times[0] is the minimum */
    out->min_s = n > 0 ? times[0] : 0;
}

static void progress(const pd_bench_opts *o, const char *phase, int done, int total) {
    if (o->progress) o->progress(phase, done, total, o->user);
}

pd_status pd_bench_sgemm(int m, int n, int k, int reps, pd_bench_gemm *out) {
    if (m < 1 || n < 1 || k < 1 || reps < 1)
        return pd_fail(PD_ERR_ARG, "bench sgemm: m %d, n %d, k %d, reps %d must all be >= 1", m, n, k, reps);
    /* a (m, k), b (n, k), c (m, n) */
    float *a = malloc((size_t)m * k * sizeof(float)), *b = malloc((size_t)n * k * sizeof(float));
    float *c = malloc((size_t)m * n * sizeof(float));
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return pd_fail(PD_ERR_NOMEM, "bench sgemm: out of memory for %d x %d x %d", m, n, k);
    }
    pd_rng rng;
    pd_rng_seed(&rng, 1);
    pd_rng_fill_uniform(&rng, a, (size_t)m * k, -1, 1);
    pd_rng_fill_uniform(&rng, b, (size_t)n * k, -1, 1);
    double best = 0;
    for (int r = 0; r < reps + 1; r++) { /* the first call warms the BLAS buffers up */
        double t0 = pd_now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        double dt = pd_now_seconds() - t0;
        if (r > 0 && dt > 0 && 1 / dt > best) best = 1 / dt;
    }
    *out = (pd_bench_gemm){m, n, k, 2.0 * m * n * k * best * 1e-9};
    free(a), free(b), free(c);
    return PD_OK;
}

/* Image forward passes of one sampling call: the samplers evaluate at grid
 * points t_0 .. t_{steps-1} (heun also at t_{i+1} of every step but the last),
 * 2B images where guidance is on (sampler.c guide_eval), else B. */
static double sample_evals(const pd_sample_config *sc, int B) {
    float *grid = malloc(((size_t)sc->steps + 1) * sizeof(float));
    if (!grid || pd_sample_time_grid(sc, grid)) {
        free(grid);
        return (double)pd_sampler_nfe(sc->sampler, sc->steps) * B; /* no guidance counted */
    }
    double evals = 0;
    for (int i = 0; i < sc->steps; i++) {
        bool second = sc->sampler == PD_SAMPLER_HEUN && i != sc->steps - 1;
        for (int j = 0; j <= (second ? 1 : 0); j++) {
            float t = grid[i + j];
            bool guided = t < sc->cfg_high && (sc->cfg_low == 0.0f || t > sc->cfg_low);
            evals += (guided && sc->cfg_scale != 1.0f) ? 2 * B : B;
        }
    }
    free(grid);
    return evals;
}

/* Everything a run holds; freed by bench_close. */
typedef struct {
    pd_config cfg;
    pd_session s;
    bool session_open;
    pd_trainer tr;             /* training's set-up; its batch: this rank's shard of B */
    pd_ctx *ctx;               /* = tr.ctx: forward and sampling time in the training context */
    float *imgs;               /* (sample_batch, C, H, W) */
    int *sample_labels;        /* (sample_batch) */
    double *times;
} bench_run;

static void bench_close(bench_run *b) {
    free(b->imgs), free(b->sample_labels), free(b->times);
    pd_trainer_close(&b->tr);
    if (b->session_open) pd_session_close(&b->s);
}

static pd_status bench_open(bench_run *b, const pd_bench_opts *o, int B, int SB) {
    const pd_config *cfg = &b->cfg;
    pd_status s = pd_session_open(&b->s, cfg);
    if (s) return s;
    b->session_open = true;
    if ((s = pd_jit_init_weights(b->s.model, (uint64_t)cfg->train.seed))) return s;
    if ((s = pd_trainer_open(&b->tr, &b->s, B))) return s;
    b->ctx = b->tr.ctx;
    size_t per = (size_t)cfg->model.channels * cfg->model.image_size * cfg->model.image_size;
    const pd_step_shard *sh = &b->tr.shard;
    /* the whole global batch is drawn, so every rank's shard is the one it
     * has with one process */
    float *all = sh->count == B ? b->tr.x : malloc((size_t)B * per * sizeof(float));
    b->imgs = malloc((size_t)SB * per * sizeof(float));
    b->sample_labels = malloc((size_t)SB * sizeof(int));
    int nt = o->steps + o->warmup + (o->sample_reps > 0 ? o->sample_reps : 1);
    b->times = malloc(2 * (size_t)nt * sizeof(double)); /* the second half: all-reduce times */
    if (!all || !b->imgs || !b->sample_labels || !b->times) {
        if (all != b->tr.x) free(all);
        return pd_fail(PD_ERR_NOMEM, "bench: out of memory for a batch of %d images of %zu floats", B, per);
    }
    /* Synthetic data: uniform pixels in [-1, 1] (drawn from the trainer's
     * key stream before the first step), labels cycling over the classes. */
    pd_rng_fill_uniform(&b->tr.st.rng, all, (size_t)B * per, -1, 1);
    if (all != b->tr.x) {
        memcpy(b->tr.x, all + (size_t)sh->first * per, (size_t)sh->count * per * sizeof(float));
        free(all);
    }
    for (int i = 0; i < sh->count; i++) b->tr.labels[i] = (sh->first + i) % cfg->model.num_classes;
    for (int i = 0; i < SB; i++) b->sample_labels[i] = i % cfg->model.num_classes;
    return PD_OK;
}

/* The last training step against its GEMMs alone: the same shapes, replayed
 * on scratch operands (median of 3), as issue 15's target (within 1.2x). */
static void gemm_ratio(const pd_gemm_shape *log, int n, double step_s) {
    if (!log) return;
    if (n > (1 << 17)) {
        fprintf(stderr, "GEMM-only time: the step made %d GEMM calls, more than the log keeps\n", n);
        return;
    }
    double t[3];
    for (int r = 0; r < 3; r++) t[r] = pd_gemm_replay_seconds(log, n);
    double lo = t[0] < t[1] ? t[0] : t[1], hi = t[0] < t[1] ? t[1] : t[0];
    double med = t[2] < lo ? lo : t[2] > hi ? hi : t[2];
    if (med <= 0) {
        fprintf(stderr, "GEMM-only time: no memory for the replay\n");
        return;
    }
    fprintf(stderr, "GEMM-only time of the last step: its %d GEMMs replayed alone at the same shapes "
            "take %.3f s (median of 3); the step took %.3f s: ratio %.2f\n", n, med, step_s,
            step_s / med);
}

/* The GEMM seam's time over the timed steps, split into operand
 * conversion/packing, oneDNN set-up and the products (gemm.h). */
static void gemm_costs(double wall) {
    pd_gemm_costs c;
    pd_gemm_costs_stop(&c);
    double conv = c.seconds[PD_GEMM_CONVERT], setup = c.seconds[PD_GEMM_SETUP],
           comp = c.seconds[PD_GEMM_COMPUTE], all = conv + setup + comp;
    double w = wall > 0 ? 100 / wall : 0;
    fprintf(stderr, "GEMM seam: %ld calls, %.3f s (%.1f%% of wall): products %.3f s (%.1f%%), "
            "operand conversion/packing %.3f s (%.1f%%), oneDNN set-up %.3f s (%.1f%%)\n",
            c.calls, all, all * w, comp, comp * w, conv, conv * w, setup, setup * w);
}

/* The GEMM shapes that took the most time over the timed steps, with the
 * rate each ran at: which products a faster kernel would pay for. */
static void gemm_shapes(double wall) {
    enum { TOP = 16 };
    pd_gemm_shape_cost top[TOP];
    long dropped = 0;
    int n = pd_gemm_costs_shapes(top, TOP, &dropped);
    if (n == 0) return;
    fprintf(stderr, "GEMM shapes by time (op(A) M x K, op(B) K x N; 'par': inside a parallel region, "
            "time per thread of the team):\n%-6s %7s %7s %7s %4s %7s %9s %6s %8s\n", "trans", "M",
            "N", "K", "par", "calls", "ms", "share", "GFLOP/s");
    for (int i = 0; i < n; i++) {
        const pd_gemm_shape *s = &top[i].shape;
        double flops = 2.0 * s->M * s->N * s->K * (double)top[i].calls;
        fprintf(stderr, "%c%c     %7d %7d %7d %4s %7ld %9.2f %5.1f%% %8.1f\n", s->trans_a ? 'T' : 'N',
                s->trans_b ? 'T' : 'N', s->M, s->N, s->K, s->in_parallel ? "yes" : "", top[i].calls,
                1e3 * top[i].seconds, wall > 0 ? 100 * top[i].seconds / wall : 0.0,
                top[i].seconds > 0 ? 1e-9 * flops / top[i].seconds : 0.0);
    }
    if (dropped) fprintf(stderr, "(%ld calls of shapes past the table's size are not listed)\n", dropped);
}

/* With several ranks, each rank steps on its shard of the global batch
 * and the gradients are summed, exactly as in training. */
static pd_status time_train(bench_run *b, const pd_bench_opts *o, pd_bench_result *r) {
    float lr = (float)pd_config_lr(&b->cfg), loss = 0;
    int total = o->warmup + o->steps;
    /* --profile: the shapes of the last step's GEMMs, replayed alone below */
    enum { GEMM_LOG_CAP = 1 << 17 };
    pd_gemm_shape *glog = o->profile ? malloc(GEMM_LOG_CAP * sizeof *glog) : NULL;
    int glog_n = 0;
    double *reduce = b->times + total;
    progress(o, "train", 0, total);
    for (int i = 0; i < total; i++) {
        pd_ctx_set_profile(b->ctx, o->profile && i >= o->warmup);
        if (o->profile && i == o->warmup) pd_gemm_costs_start();
        if (glog && i == total - 1) pd_gemm_log_open(glog, GEMM_LOG_CAP);
        double t0 = pd_now_seconds(), r0 = pd_dist_reduce_seconds();
        pd_status s = pd_trainer_step(&b->tr, lr, &loss, NULL); /* step i + 1 */
        if (glog && i == total - 1) glog_n = pd_gemm_log_close();
        if (s) {
            free(glog);
            return s;
        }
        if (i >= o->warmup) b->times[i - o->warmup] = pd_now_seconds() - t0;
        if (i >= o->warmup) reduce[i - o->warmup] = pd_dist_reduce_seconds() - r0;
        progress(o, "train", i + 1, total);
    }
    summarise(reduce, o->steps, &r->reduce);
    r->last_loss = loss;
    if (o->profile) {
        pd_ctx_set_profile(b->ctx, false);
        double wall = 0, ops = pd_ctx_profile_total(b->ctx);
        for (int i = 0; i < o->steps; i++) wall += b->times[i];
        fprintf(stderr, "per-op time over %d training steps:\n", o->steps);
        pd_ctx_profile_print(b->ctx, stderr);
        fprintf(stderr,
                "ops %.3f s of %.3f s wall (%.1f%%); the rest (%.3f s) is outside ops: AdamW, "
                "EMA, gradient buffers, noise\n",
                ops, wall, wall > 0 ? 100 * ops / wall : 0.0, wall - ops);
        gemm_costs(wall);
        gemm_shapes(wall);
        gemm_ratio(glog, glog_n, b->times[o->steps - 1]);
    }
    free(glog);
    summarise(b->times, o->steps, &r->train);
    return PD_OK;
}

static pd_status time_forward(bench_run *b, const pd_bench_opts *o, int B, pd_bench_result *r) {
    const pd_config *cfg = &b->cfg;
    int S = cfg->model.image_size, shape[4] = {B, cfg->model.channels, S, S};
    /* one process (forward is not timed under MPI): the shard is the batch */
    float *x = b->tr.x, *t = b->tr.t;
    for (int i = 0; i < B; i++) t[i] = (float)(i + 1) / (float)(B + 1);
    pd_ctx_set_grad_enabled(b->ctx, false);
    pd_ctx_set_training(b->ctx, false);
    int total = o->warmup + o->steps;
    pd_status s = PD_OK;
    progress(o, "forward", 0, total);
    for (int i = 0; i < total && !s; i++) {
        double t0 = pd_now_seconds();
        pd_ctx_reset(b->ctx);
        /* x (B, C, H, W) -> x_pred (B, C, H, W) */
        pd_tensor *zt = pd_tensor_from(b->ctx, x, shape, 4);
        if (!pd_jit_forward(b->s.model, b->ctx, zt, t, b->tr.labels, NULL))
            s = pd_fail(pd_ctx_status(b->ctx) ? pd_ctx_status(b->ctx) : PD_ERR_ARG, "%s", pd_ctx_error(b->ctx));
        if (i >= o->warmup) b->times[i - o->warmup] = pd_now_seconds() - t0;
        progress(o, "forward", i + 1, total);
    }
    pd_ctx_set_grad_enabled(b->ctx, true);
    pd_ctx_reset(b->ctx);
    if (!s) summarise(b->times, o->steps, &r->forward);
    return s;
}

static pd_status time_sample(bench_run *b, const pd_bench_opts *o, int SB, pd_bench_result *r) {
    pd_sample_config sc;
    pd_sample_config_from(&b->cfg, &sc);
    if (o->sample_steps > 0) sc.steps = o->sample_steps;
    int reps = o->sample_reps > 0 ? o->sample_reps : 1;
    pd_rng rng;
    pd_rng_seed(&rng, (uint64_t)b->cfg.sample.seed);
    progress(o, "sample", 0, reps);
    for (int i = 0; i < reps; i++) {
        double t0 = pd_now_seconds();
        pd_status s = pd_sample(b->s.model, b->ctx, &sc, b->sample_labels, SB, &rng, b->imgs, NULL, NULL);
        if (s) return s;
        b->times[i] = pd_now_seconds() - t0;
        progress(o, "sample", i + 1, reps);
    }
    summarise(b->times, reps, &r->sample);
    r->sample_steps = sc.steps;
    r->sample_evals = sample_evals(&sc, SB);
    return PD_OK;
}

static pd_status time_peaks(const pd_config *cfg, int B, pd_bench_result *r) {
    pd_status s = pd_bench_sgemm(2048, 2048, 2048, 3, &r->peak_square);
    if (s) return s;
    /* SwiGLU w12 of the blocks after the in-context tokens join:
     * (B * (N + L), D) @ (2 * hidden, D)^T. */
    pd_jit_config jc;
    pd_config_jit(cfg, &jc);
    int grid = jc.image_size / jc.patch_size;
    int rows = B * (grid * grid + jc.in_context_len);
    return pd_bench_sgemm(rows, 2 * pd_jit_mlp_hidden(&jc), jc.hidden_size, 3, &r->peak_model);
}

pd_status pd_bench_run(const pd_bench_opts *o, pd_bench_result *r) {
    memset(r, 0, sizeof *r);
    if (!o || !o->cfg) return pd_fail(PD_ERR_ARG, "bench: no config");
    if (o->steps < 1 || o->warmup < 0 || o->batch < 0 || o->sample_batch < 0 || o->sample_reps < 0)
        return pd_fail(PD_ERR_ARG, "bench: steps %d (>= 1), warmup %d, batch %d, sample_batch %d, "
                       "sample_reps %d (>= 0) out of range", o->steps, o->warmup, o->batch,
                       o->sample_batch, o->sample_reps);
    bench_run b;
    memset(&b, 0, sizeof b);
    b.cfg = *o->cfg;
    int B = o->batch > 0 ? o->batch : b.cfg.train.batch_size;
    int SB = o->sample_batch > 0 ? o->sample_batch : B;
    b.cfg.train.batch_size = B;
    pd_set_num_threads(o->threads > 0 ? o->threads : b.cfg.train.threads);
    r->batch = B;
    r->sample_batch = SB;
    r->threads = pd_get_num_threads();
    r->blas_core = pd_blas_corename();
    r->ranks = pd_dist_size();
    if (B < r->ranks)
        return pd_fail(PD_ERR_ARG, "bench: batch %d is smaller than the %d MPI ranks", B, r->ranks);
    bool alone = r->ranks == 1; /* forward, sampling and the peak are per process */

    pd_status s = pd_gemm_set_fp32_onednn(o->fp32_onednn);
    if (!s) s = bench_open(&b, o, B, SB);
    if (!s) {
        r->params = pd_params_numel(pd_jit_params(b.s.model), true);
        r->flops_per_image = pd_jit_flops_per_image(b.s.model);
        s = time_train(&b, o, r);
    }
    if (!s && alone) s = time_forward(&b, o, B, r);
    if (!s && alone && o->sample_steps >= 0) s = time_sample(&b, o, SB, r);
    struct rusage ru;
    if (!getrusage(RUSAGE_SELF, &ru)) r->peak_rss_mib = (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
    bench_close(&b);
    if (o->fp32_onednn) pd_gemm_set_fp32_onednn(false); /* process-wide: back to OpenBLAS */
    if (!s && alone && !o->skip_peak) {
        progress(o, "peak", 0, 1);
        s = time_peaks(&b.cfg, B, r);
        progress(o, "peak", 1, 1);
    }
    return s;
}

static double per_s(const pd_bench_time *t, double items, bool use_min) {
    double dt = use_min ? t->min_s : t->median_s;
    return t->n > 0 && dt > 0 ? items / dt : 0;
}

double pd_bench_train_images_per_s(const pd_bench_result *r, bool use_min) {
    return per_s(&r->train, r->batch, use_min);
}
double pd_bench_forward_images_per_s(const pd_bench_result *r, bool use_min) {
    return per_s(&r->forward, r->batch, use_min);
}
double pd_bench_sample_images_per_s(const pd_bench_result *r, bool use_min) {
    return per_s(&r->sample, r->sample_batch, use_min);
}
double pd_bench_train_gflops(const pd_bench_result *r) {
    return per_s(&r->train, 3.0 * r->flops_per_image * r->batch, false) * 1e-9;
}
double pd_bench_forward_gflops(const pd_bench_result *r) {
    return per_s(&r->forward, r->flops_per_image * r->batch, false) * 1e-9;
}
double pd_bench_sample_gflops(const pd_bench_result *r) {
    return per_s(&r->sample, r->flops_per_image * r->sample_evals, false) * 1e-9;
}
