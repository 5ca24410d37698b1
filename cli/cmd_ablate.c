/* pixeldit ablate CONFIG... (--minutes M | --steps S) --out DIR [options] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/eval.h"
#include "pixeldit/limits.h"

static const char *epilog =
    "Every config is trained for the same number of steps (--steps; --minutes is a wall-clock budget,\n"
    "which load on the machine changes) from seeds S..S+K-1: the same seed gives every config the\n"
    "same data order, noise and t. Each run is evaluated during training with one protocol, the\n"
    "first config's [eval] section (n, sampler, steps, cfg; --n, --sampler, --sample-steps, --cfg\n"
    "override it for all), every --eval-every steps and at the end: DIR/<i>-<name>/seed<k>/eval.csv\n"
    "holds FD, KID, precision/recall in two feature spaces, class accuracy and grid score against\n"
    "steps, images seen and training seconds, for EMA 1 and the raw weights.\n"
    "Each finished run writes result.json (config and hash, commit, machine, seed, curve); with\n"
    "--results DIR it is also kept as DIR/<name>/seed<k>.json, and a run whose record exists is\n"
    "skipped. A run cut short (Ctrl-C, machine gone) continues from its checkpoint.\n"
    "Equal compute: `pixeldit report` reads the records and each config's step time measured\n"
    "by `pixeldit bench --json` on a quiet machine, and compares the configs at the same\n"
    "training seconds as well as at equal steps, with paired differences per seed.\n"
    "The feature network must be trained first: pixeldit eval --train-features --config CONFIG.\n"
    "See docs/eval.md and docs/results.md.\n";

static void on_sigint(int sig) {
    (void)sig;
    pd_ablate_request_stop();
}

int cmd_ablate(int argc, char **argv) {
    const char *configs[16], *sets[64], *out = NULL, *sampler = NULL, *results = NULL;
    int nconf = 0, nsets = 0;
    long steps = 0, seeds = 1, seed = 0, n = 0, sample_steps = 0, ema = 1, eval_every = 0, threads = 0;
    double minutes = 0, cfg_scale = -1;
    const cli_opt opts[] = {
        {.name = "--minutes", .kind = CLI_DOUBLE, .arg = "M", .dst = &minutes, .min = 0, .max = 1e9,
         .help = "train every config for M minutes of wall time (equal compute) ..."},
        {.name = "--steps", .kind = CLI_INT, .arg = "S", .dst = &steps, .min = 1, .max = CLI_NO_MAX,
         .help = "... or for S optimiser steps (equal samples seen)"},
        {.name = "--out", .kind = CLI_STRING, .arg = "DIR", .dst = &out, .required = true,
         .help = "runs, ablation.md, ablation.json and ablation.png go here; a second call\n"
                 "with the same DIR skips the runs that are done (resume)"},
        {.name = "--results", .kind = CLI_STRING, .arg = "DIR", .dst = &results,
         .help = "also keep each run's record as DIR/<config name>/seed<k>.json (e.g. results/<study>);\n"
                 "runs whose record is there are skipped"},
        {.name = "--seeds", .kind = CLI_INT, .arg = "K", .dst = &seeds, .min = 1, .max = 100,
         .help = "train each config K times (seeds S..S+K-1): mean, sd and paired differences (default 1)"},
        {.name = "--seed", .kind = CLI_INT, .arg = "S", .dst = &seed, .min = 0, .max = 1000000,
         .help = "first training seed, also the evaluation's sampling seed (default 0)"},
        {.name = "--eval-every", .kind = CLI_INT, .arg = "N", .dst = &eval_every, .min = 1, .max = 1000000000,
         .help = "evaluate every N steps and at the end: the curve (default: [eval] every,\n"
                 "or only the end)"},
        {.name = "--n", .kind = CLI_INT, .arg = "N", .dst = &n, .min = 8, .max = 100000,
         .help = "images sampled per evaluation (default: [eval] n, 500)"},
        {.name = "--sampler", .kind = CLI_STRING, .arg = PD_SAMPLER_CHOICES, .dst = &sampler,
         .choices = PD_SAMPLER_CHOICES, .help = "sampler of the evaluation (default: [eval] sampler, unipc)"},
        {.name = "--sample-steps", .kind = CLI_INT, .arg = "S", .dst = &sample_steps, .min = 1,
         .max = PD_MAX_SAMPLE_STEPS, .help = "sampler steps of the evaluation (default: [eval] steps, 10)"},
        {.name = "--cfg", .kind = CLI_DOUBLE, .arg = "W", .dst = &cfg_scale, .min = 0, .max = 1000,
         .help = "guidance scale of the evaluation (default: [eval] cfg, 2.0)"},
        {.name = "--ema", .kind = CLI_INT, .arg = "0|1", .dst = &ema, .min = 0, .max = 1,
         .help = "weights in the table: 1 EMA 1 (default) or 0 raw; records hold both"},
        {.name = "--set", .kind = CLI_STRINGS, .arg = "s.k=v", .dst = sets, .max_count = 64, .count = &nsets,
         .help = "override a key in every config"},
        {.name = "--threads", .kind = CLI_INT, .arg = "T", .dst = &threads, .min = 1, .max = 4096,
         .help = "threads for every run (default: [train] threads, 0 = the cores free at the start);\n"
                 "unlike --set train.threads, it leaves the run keys, so recorded runs are reused"},
    };
    const cli_command cmd = {.name = "ablate", .operand = "CONFIG", .operands = configs, .n_operands = &nconf,
                             .min_operands = 1, .max_operands = 16, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof *opts), .epilog = epilog};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
    if ((minutes > 0) == (steps > 0)) return cli_opts_fail(&cmd, "ablate needs one budget: --minutes M or --steps S");
    pd_config *cfgs = calloc((size_t)nconf, sizeof *cfgs);
    if (!cfgs) return cli_fail("out of memory");
    for (int i = 0; i < nconf; i++) {
        pd_config_defaults(&cfgs[i]);
        if (pd_config_load_file(&cfgs[i], configs[i]) || pd_config_set_all(&cfgs[i], sets, nsets) ||
            pd_config_validate(&cfgs[i])) {
            free(cfgs);
            return cli_fail("config");
        }
    }
    pd_sampler_kind sk = PD_SAMPLER_EULER;
    if (sampler && pd_sampler_from_name(sampler, &sk)) {
        free(cfgs);
        return cli_fail("--sampler");
    }
    pd_ablate_opts o = {
        .n_configs = nconf,
        .configs = cfgs,
        .names = configs,
        .minutes = minutes,
        .steps = steps,
        .seeds = (int)seeds,
        .threads = (int)threads,
        .seed0 = (int)seed,
        .eval_every = eval_every,
        .n = n,
        .sampler = -1,
        .sample_steps = (int)sample_steps,
        .cfg_scale = cfg_scale,
        .ema = (int)ema,
        .out_dir = out,
        .results_dir = results,
        .verbose = 1,
    };
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    if (sampler) o.sampler = (int)sk;
    pd_status st = pd_ablate_run(&o);
    free(cfgs);
    if (st == PD_ERR_INTERRUPTED) {
        fprintf(stderr, "pixeldit: %s\n", pd_last_error());
        return CLI_INTERRUPTED;
    }
    if (st) return cli_fail("ablate");
    printf("wrote %s/ablation.md, %s/ablation.json, %s/ablation.png\n", out, out, out);
    return CLI_OK;
}
