/* pixeldit ablate CONFIG... (--minutes M | --steps S) --out DIR [options] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/eval.h"

static const char *epilog =
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
    const cli_opt opts[] = {
        {.name = "--minutes", .kind = CLI_DOUBLE, .arg = "M", .dst = &minutes, .min = 0, .max = 1e9,
         .help = "train every config for M minutes of wall time (equal compute) ..."},
        {.name = "--steps", .kind = CLI_INT, .arg = "S", .dst = &steps, .min = 1, .max = CLI_NO_MAX,
         .help = "... or for S optimiser steps (equal samples seen)"},
        {.name = "--out", .kind = CLI_STRING, .arg = "DIR", .dst = &out, .required = true,
         .help = "runs, ablation.md, ablation.json and ablation.png go here; a second call\n"
                 "with the same DIR skips the runs that are done (resume)"},
        {.name = "--seeds", .kind = CLI_INT, .arg = "K", .dst = &seeds, .min = 1, .max = 100,
         .help = "train each config K times (seeds S..S+K-1) and report the spread (default 1)"},
        {.name = "--seed", .kind = CLI_INT, .arg = "S", .dst = &seed, .min = 0, .max = 1000000,
         .help = "first training seed, also the sampling seed (default 0)"},
        {.name = "--n", .kind = CLI_INT, .arg = "N", .dst = &n, .min = 2, .max = CLI_NO_MAX,
         .help = "images sampled per evaluation (default 1000)"},
        {.name = "--sampler", .kind = CLI_STRING, .arg = "heun|euler", .dst = &sampler, .choices = "heun|euler",
         .help = "sampler of the evaluation (default euler)"},
        {.name = "--sample-steps", .kind = CLI_INT, .arg = "S", .dst = &sample_steps, .min = 1,
         .max = CLI_NO_MAX, .help = "sampler steps of the evaluation (default 10)"},
        {.name = "--cfg", .kind = CLI_DOUBLE, .arg = "W", .dst = &cfg_scale, .min = 0, .max = CLI_NO_MAX,
         .help = "guidance scale of the evaluation (default: the first config's [sample] cfg)"},
        {.name = "--ema", .kind = CLI_INT, .arg = "0|1|2", .dst = &ema, .min = 0, .max = 2,
         .help = "weights evaluated (default 0: raw; short runs leave the EMAs young)"},
        {.name = "--set", .kind = CLI_STRINGS, .arg = "s.k=v", .dst = sets, .max_count = 64, .count = &nsets,
         .help = "override a key in every config"},
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
