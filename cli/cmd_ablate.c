/* pixeldit ablate CONFIG... (--minutes M | --steps S) --out DIR [options] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/eval.h"

static const char *usage =
    "usage: pixeldit ablate CONFIG... (--minutes M | --steps S) --out DIR [--seeds K] [--seed S] [--n N]\n"
    "                       [--sampler heun|euler] [--sample-steps S] [--cfg W] [--ema 0|1|2]\n"
    "                       [--set section.key=value ...]\n"
    "\n"
    "  --minutes M       train every config for M minutes of wall time (equal compute) ...\n"
    "  --steps S         ... or for S optimiser steps (equal samples seen)\n"
    "  --out DIR         runs, ablation.md, ablation.json and ablation.png go here; a second call\n"
    "                    with the same DIR skips the runs that are done (resume)\n"
    "  --seeds K         train each config K times (seeds S..S+K-1) and report the spread (default 1)\n"
    "  --seed S          first training seed, also the sampling seed (default 0)\n"
    "  --n N             images sampled per evaluation (default 1000)\n"
    "  --sampler, --sample-steps, --cfg   sampling for the evaluation (default euler, 10 steps,\n"
    "                    the first config's [sample] cfg)\n"
    "  --ema 0|1|2       weights evaluated (default 0: raw; short runs leave the EMAs young)\n"
    "  --set s.k=v       override a key in every config (repeatable)\n"
    "\n"
    "The feature network must be trained first: pixeldit eval --train-features --config CONFIG.\n"
    "Ctrl-C stops after saving the current run's checkpoint. See docs/eval.md.\n";

static void on_sigint(int sig) {
    (void)sig;
    pd_ablate_request_stop();
}

int cmd_ablate(int argc, char **argv) {
    const char *configs[16], *sets[64], *out = NULL, *sampler = "euler";
    int nconf = 0, nsets = 0;
    long steps = 0, seeds = 1, seed = 0, n = 1000, sample_steps = 10, ema = 0;
    double minutes = 0, cfg_scale = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--out") && has) out = argv[++i];
        else if (!strcmp(a, "--sampler") && has) sampler = argv[++i];
        else if (!strcmp(a, "--set") && has) {
            if (nsets == 64) return cli_usage(usage, "too many --set options (64 at most)");
            sets[nsets++] = argv[++i];
        } else if (!strcmp(a, "--minutes") && has) {
            if (!cli_double(argv[++i], &minutes) || !(minutes > 0)) return cli_usage(usage, "--minutes %s: expected a positive number", argv[i]);
        } else if (!strcmp(a, "--steps") && has) {
            if (!cli_int(argv[++i], &steps) || steps < 1) return cli_usage(usage, "--steps %s: expected a positive integer", argv[i]);
        } else if (!strcmp(a, "--seeds") && has) {
            if (!cli_int(argv[++i], &seeds) || seeds < 1 || seeds > 100) return cli_usage(usage, "--seeds %s: expected 1..100", argv[i]);
        } else if (!strcmp(a, "--seed") && has) {
            if (!cli_int(argv[++i], &seed) || seed < 0 || seed > 1000000) return cli_usage(usage, "--seed %s: expected 0..1000000", argv[i]);
        } else if (!strcmp(a, "--n") && has) {
            if (!cli_int(argv[++i], &n) || n < 2) return cli_usage(usage, "--n %s: expected an integer >= 2", argv[i]);
        } else if (!strcmp(a, "--sample-steps") && has) {
            if (!cli_int(argv[++i], &sample_steps) || sample_steps < 1) return cli_usage(usage, "--sample-steps %s: expected a positive integer", argv[i]);
        } else if (!strcmp(a, "--ema") && has) {
            if (!cli_int(argv[++i], &ema) || ema < 0 || ema > 2) return cli_usage(usage, "--ema %s: expected 0, 1 or 2", argv[i]);
        } else if (!strcmp(a, "--cfg") && has) {
            if (!cli_double(argv[++i], &cfg_scale) || cfg_scale < 0) return cli_usage(usage, "--cfg %s: expected a non-negative number", argv[i]);
        } else if (a[0] == '-') return cli_usage(usage, "unknown or incomplete option '%s'", a);
        else if (nconf == 16) return cli_usage(usage, "too many configs (16 at most)");
        else configs[nconf++] = a;
    }
    if (!nconf) return cli_usage(usage, "ablate needs at least one CONFIG");
    if ((minutes > 0) == (steps > 0)) return cli_usage(usage, "ablate needs one budget: --minutes M or --steps S");
    if (!out) return cli_usage(usage, "ablate needs --out DIR");
    if (strcmp(sampler, "heun") && strcmp(sampler, "euler"))
        return cli_usage(usage, "--sampler %s: expected heun or euler", sampler);
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
    pd_ablate_opts o = {
        .n_configs = nconf,
        .configs = cfgs,
        .names = configs,
        .minutes = minutes,
        .steps = steps,
        .seeds = (int)seeds,
        .seed0 = (int)seed,
        .n = n,
        .sampler = strcmp(sampler, "euler") ? PD_SAMPLER_HEUN : PD_SAMPLER_EULER,
        .sample_steps = (int)sample_steps,
        .cfg_scale = cfg_scale >= 0 ? cfg_scale : cfgs[0].sample.cfg,
        .ema = (int)ema,
        .out_dir = out,
        .verbose = 1,
    };
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
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
