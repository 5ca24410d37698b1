/* pixeldit bench CONFIG: training-step, forward and sampling speed on
 * synthetic data, with the machine's sgemm peak measured in the same run
 * (the measuring is pd_bench_run; this file parses and prints). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pixeldit/bench.h"
#include "pixeldit/dist.h"
#include "pixeldit/eval.h"
#include "pixeldit/runtime.h"

static const char *epilog =
    "Data is synthetic (config shape, uniform pixels); a training step is exactly the\n"
    "trainer's: noise, forward, loss, backward, AdamW, two EMA updates. Times are the\n"
    "median and minimum over N calls. GFLOP/s are analytic (forward FLOPs per image;\n"
    "a training step counts 3 forward passes); MFU = achieved / measured 2048^3 sgemm.\n";

typedef struct {
    const char *config;
    const char *json;
} bench_cli;

static void show_progress(const char *phase, int done, int total, void *user) {
    (void)user;
    if (!isatty(STDERR_FILENO)) return;
    fprintf(stderr, "\rbench: %-8s %d/%d   ", phase, done, total);
    if (done == total) fprintf(stderr, "\r%40s\r", "");
    fflush(stderr);
}

static double mfu(double gflops, const pd_bench_result *r) {
    return r->peak_square.gflops > 0 ? gflops / r->peak_square.gflops : 0;
}

static void print_line(const char *name, const char *what, const pd_bench_time *t, double img_s,
                       double img_s_best, double gflops, const pd_bench_result *r) {
    printf("%-8s %-34s median %8.4f s  min %8.4f s  %9.2f img/s (best %.2f)  %7.2f GFLOP/s", name,
           what, t->median_s, t->min_s, img_s, img_s_best, gflops);
    if (r->peak_square.gflops > 0) printf("  MFU %5.1f%%", 100 * mfu(gflops, r));
    printf("\n");
}

static const char *precision_name(pd_precision p) {
    return p == PD_PRECISION_BF16 ? "bf16" : p == PD_PRECISION_BF16_EMULATED ? "bf16-emulated" : "fp32";
}

static void print_report(const bench_cli *c, const pd_config *cfg, const pd_bench_opts *o,
                         const pd_bench_result *r) {
    const char *env = getenv("OPENBLAS_CORETYPE");
    printf("pixeldit bench %s: %s, %zu trainable parameters, batch %d, %d threads, OpenBLAS core %s "
           "(OPENBLAS_CORETYPE=%s)\n", c->config, cfg->model.preset[0] ? cfg->model.preset : "custom model",
           r->params, r->batch, r->threads, r->blas_core, env ? env : "unset");
    printf("forward FLOPs per image %.4f GFLOP (analytic; a training step counts as 3x forward); "
           "%s kernels\n",
           r->flops_per_image * 1e-9, cfg->train.fused_kernels ? "fused" : "reference (unfused)");
    printf("GEMM: precision %s; fp32 products through %s\n", precision_name(cfg->train.precision),
           o->fp32_onednn ? "oneDNN matmul (--fp32-gemm onednn)" : "OpenBLAS");
    printf("MPI: %s; %d rank%s\n", pd_dist_library(), r->ranks, r->ranks > 1 ? "s (the global batch is "
           "split across them; forward, sampling and the peak are not timed)" : "");
    char what[64];
    snprintf(what, sizeof what, "(%d steps, %d warm-up)", o->steps, o->warmup);
    print_line("train", what, &r->train, pd_bench_train_images_per_s(r, false),
               pd_bench_train_images_per_s(r, true), pd_bench_train_gflops(r), r);
    if (r->ranks > 1)
        printf("%-8s %-34s median %8.4f s  min %8.4f s  (%.1f%% of the step)\n", "allreduce",
               "(gradients, inside train)", r->reduce.median_s, r->reduce.min_s,
               r->train.median_s > 0 ? 100 * r->reduce.median_s / r->train.median_s : 0.0);
    if (r->forward.n > 0)
        print_line("forward", "(no grad)", &r->forward, pd_bench_forward_images_per_s(r, false),
                   pd_bench_forward_images_per_s(r, true), pd_bench_forward_gflops(r), r);
    if (r->sample.n > 0) {
        snprintf(what, sizeof what, "(%s %d steps = %d NFE, cfg %.2g, %d images)",
                 pd_sampler_name(cfg->sample.sampler), r->sample_steps,
                 pd_sampler_nfe(cfg->sample.sampler, r->sample_steps), cfg->sample.cfg, r->sample_batch);
        print_line("sample", what, &r->sample, pd_bench_sample_images_per_s(r, false),
                   pd_bench_sample_images_per_s(r, true), pd_bench_sample_gflops(r), r);
        printf("sample: %.1f image forward passes per image (CFG evaluates the null class too)\n",
               r->sample_evals / r->sample_batch);
    }
    printf("peak RSS %.1f MiB; last training loss %.4f\n", r->peak_rss_mib, (double)r->last_loss);
    if (r->peak_square.gflops > 0)
        printf("sgemm peak: %dx%dx%d %.2f GFLOP/s; model shape (w12) %dx%dx%d %.2f GFLOP/s; "
               "MFU = achieved / 2048^3 peak\n", r->peak_square.m, r->peak_square.n, r->peak_square.k,
               r->peak_square.gflops, r->peak_model.m, r->peak_model.n, r->peak_model.k,
               r->peak_model.gflops);
}

static void json_time(FILE *f, const char *name, const pd_bench_time *t, double img_s, double img_s_best,
                      double gflops, const pd_bench_result *r, const char *extra) {
    fprintf(f, "  \"%s\": {\"n\": %d, \"median_s\": %.6g, \"min_s\": %.6g, \"images_per_s\": %.6g, "
            "\"images_per_s_best\": %.6g, \"gflops\": %.6g, \"mfu\": %.6g%s},\n", name, t->n, t->median_s,
            t->min_s, img_s, img_s_best, gflops, mfu(gflops, r), extra);
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", (unsigned char)*s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static int write_json(const bench_cli *c, const pd_config *cfg, const pd_bench_opts *o,
                      const pd_bench_result *r) {
    FILE *f = strcmp(c->json, "-") ? fopen(c->json, "w") : stdout;
    if (!f) {
        fprintf(stderr, "pixeldit: --json %s: cannot open for writing: %s\n", c->json, strerror(errno));
        return CLI_ERR;
    }
    const char *env = getenv("OPENBLAS_CORETYPE");
    fprintf(f, "{\n  \"side\": \"pixeldit\",\n  \"config\": ");
    json_str(f, c->config);
    fprintf(f, ",\n  \"preset\": ");
    json_str(f, cfg->model.preset);
    fprintf(f, ",\n");
    fprintf(f, "  \"ranks\": %d,\n  \"allreduce\": {\"median_s\": %.6g, \"min_s\": %.6g},\n", r->ranks,
            r->reduce.median_s, r->reduce.min_s);
    fprintf(f, "  \"machine\": ");
    pd_machine_json(f);
    fprintf(f, ",\n  \"commit\": ");
    json_str(f, pd_build_commit());
    fprintf(f, ",\n");
    fprintf(f, "  \"params\": %zu,\n  \"batch\": %d,\n  \"threads\": %d,\n  \"blas_core\": \"%s\",\n",
            r->params, r->batch, r->threads, r->blas_core);
    fprintf(f, "  \"openblas_coretype\": ");
    if (env) json_str(f, env);
    else fprintf(f, "null");
    fprintf(f, ",\n");
    fprintf(f, "  \"precision\": \"%s\",\n  \"fp32_gemm\": \"%s\",\n", precision_name(cfg->train.precision),
            o->fp32_onednn ? "onednn" : "openblas");
    fprintf(f, "  \"flops_per_image\": %.0f,\n  \"train_flops_factor\": 3,\n", r->flops_per_image);
    json_time(f, "train", &r->train, pd_bench_train_images_per_s(r, false), pd_bench_train_images_per_s(r, true),
              pd_bench_train_gflops(r), r, "");
    json_time(f, "forward", &r->forward, pd_bench_forward_images_per_s(r, false),
              pd_bench_forward_images_per_s(r, true), pd_bench_forward_gflops(r), r, "");
    char extra[160];
    snprintf(extra, sizeof extra, ", \"steps\": %d, \"batch\": %d, \"evals_per_image\": %.6g", r->sample_steps,
             r->sample_batch, r->sample_batch ? r->sample_evals / r->sample_batch : 0);
    json_time(f, "sample", &r->sample, pd_bench_sample_images_per_s(r, false),
              pd_bench_sample_images_per_s(r, true), pd_bench_sample_gflops(r), r, extra);
    fprintf(f, "  \"peak\": {\"square\": {\"m\": %d, \"n\": %d, \"k\": %d, \"gflops\": %.6g}, "
            "\"model\": {\"m\": %d, \"n\": %d, \"k\": %d, \"gflops\": %.6g}},\n", r->peak_square.m,
            r->peak_square.n, r->peak_square.k, r->peak_square.gflops, r->peak_model.m, r->peak_model.n,
            r->peak_model.k, r->peak_model.gflops);
    fprintf(f, "  \"peak_rss_mib\": %.2f,\n  \"last_loss\": %.6g\n}\n", r->peak_rss_mib, (double)r->last_loss);
    bool bad = ferror(f) != 0; /* a buffered write may have failed before fclose */
    if (f != stdout && (fclose(f) || bad)) {
        fprintf(stderr, "pixeldit: --json %s: write failed: %s\n", c->json, strerror(errno ? errno : EIO));
        return CLI_ERR;
    }
    return CLI_OK;
}

int cmd_bench(int argc, char **argv) {
    bench_cli c = {0};
    const char *sets[64], *plugins[8];
    int nsets = 0, nplugins = 0;
    bool no_peak = false, profile = false, quiet = false;
    const char *fp32_gemm = "openblas";
    /* 0 (sample_steps: -1): the default the help names */
    long batch = 0, steps = 10, warmup = 2, threads = 0, sample_steps = -1, sample_batch = 0, sample_reps = 0;
    const cli_opt opts[] = {
        {.name = "--set", .kind = CLI_STRINGS, .arg = "s.k=v", .dst = sets, .max_count = 64, .count = &nsets,
         .help = "override a config key"},
        {.name = "--plugin", .kind = CLI_STRINGS, .arg = "F.so", .dst = plugins, .max_count = 8,
         .count = &nplugins, .help = "put a plugin in the slot of its kind"},
        {.name = "--batch", .kind = CLI_INT, .arg = "B", .dst = &batch, .min = 1, .max = 1000000,
         .help = "images per step (default: [train] batch_size)"},
        {.name = "--steps", .kind = CLI_INT, .arg = "N", .dst = &steps, .min = 1, .max = 1000000,
         .help = "timed training steps and forward passes (default 10)"},
        {.name = "--warmup", .kind = CLI_INT, .arg = "W", .dst = &warmup, .min = 0, .max = 1000000,
         .help = "untimed calls before each (default 2)"},
        {.name = "--threads", .kind = CLI_INT, .arg = "T", .dst = &threads, .min = 0, .max = 1000000,
         .help = "threads (default: [train] threads; 0 = all cores)"},
        {.name = "--sample-steps", .kind = CLI_INT, .arg = "S", .dst = &sample_steps, .min = 0, .max = 1000000,
         .help = "sampler steps (default: [sample] steps; 0 = skip sampling)"},
        {.name = "--sample-batch", .kind = CLI_INT, .arg = "SB", .dst = &sample_batch, .min = 1,
         .max = 1000000, .help = "images per sampling call (default: B)"},
        {.name = "--sample-reps", .kind = CLI_INT, .arg = "R", .dst = &sample_reps, .min = 1, .max = 1000000,
         .help = "timed sampling calls (default 1)"},
        {.name = "--no-peak", .kind = CLI_FLAG, .dst = &no_peak,
         .help = "skip the sgemm peak (MFU is then not reported)"},
        {.name = "--profile", .kind = CLI_FLAG, .dst = &profile,
         .help = "print per-op forward/backward times of the timed training steps"},
        {.name = "--fp32-gemm", .kind = CLI_STRING, .arg = "LIB", .dst = &fp32_gemm,
         .help = "openblas (default) or onednn: the library behind fp32 products (onednn runs "
                 "the bf16 backend's code with fp32 operands)"},
        {.name = "--json", .kind = CLI_STRING, .arg = "FILE", .dst = &c.json,
         .help = "also write the numbers as JSON ('-' = stdout)"},
        {.name = "--quiet", .kind = CLI_FLAG, .dst = &quiet, .help = "no progress output"},
    };
    const cli_command cmd = {.name = "bench", .operand = "CONFIG", .operands = &c.config, .min_operands = 1,
                             .max_operands = 1, .opts = opts, .n_opts = (int)(sizeof opts / sizeof *opts),
                             .epilog = epilog};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
    if (strcmp(fp32_gemm, "openblas") != 0 && strcmp(fp32_gemm, "onednn") != 0) {
        fprintf(stderr, "pixeldit bench: --fp32-gemm %s: expected openblas or onednn\n", fp32_gemm);
        return 2;
    }
    pd_bench_opts o = {
        .batch = (int)batch,
        .steps = (int)steps,
        .warmup = (int)warmup,
        .threads = (int)threads,
        .sample_steps = sample_steps == 0 ? -1 : sample_steps < 0 ? 0 : (int)sample_steps,
        .sample_batch = (int)sample_batch,
        .sample_reps = (int)sample_reps,
        .skip_peak = no_peak,
        .profile = profile,
        .fp32_onednn = strcmp(fp32_gemm, "onednn") == 0,
        .progress = quiet || pd_dist_rank() > 0 ? NULL : show_progress,
    };

    static pd_config cfg;
    pd_config_defaults(&cfg);
    if (pd_config_load_file(&cfg, c.config)) return cli_fail("config");
    if (pd_session_apply_args(&cfg, plugins, nplugins, sets, nsets)) return cli_fail("config");
    if (pd_config_validate(&cfg)) return cli_fail("config");
    o.cfg = &cfg;

    pd_bench_result r;
    if (pd_bench_run(&o, &r)) return cli_fail("bench");
    if (pd_dist_rank() > 0) return CLI_OK; /* rank 0 reports for all */
    if (!(c.json && !strcmp(c.json, "-"))) print_report(&c, &cfg, &o, &r);
    return c.json ? write_json(&c, &cfg, &o, &r) : CLI_OK;
}
