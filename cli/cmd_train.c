/* pixeldit train CONFIG [options] */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pixeldit/dist.h"
#include "pixeldit/trainer.h"

static const char *usage =
    "usage: pixeldit train CONFIG [--out DIR] [--steps N] [--minutes M] [--resume CKPT]\n"
    "                      [--set section.key=value ...] [--plugin FILE.so ...] [--quiet] [--force]\n"
    "\n"
    "  --out DIR        where checkpoint-last.safetensors, log.csv and samples/ go (default: runs/NAME)\n"
    "  --steps N        run N optimiser steps now (default: [train] epochs, or until stopped)\n"
    "  --minutes M      stop after M minutes of wall time\n"
    "  --resume CKPT    continue exactly from a checkpoint (weights, EMAs, AdamW, RNG, data order)\n"
    "  --set s.k=v      override a config key (repeatable)\n"
    "  --plugin F.so    put a plugin in the slot of its kind; a loss is added to [loss] (repeatable)\n"
    "  --quiet          no progress output\n"
    "  --force          start over in a --out folder that already holds a run (replaces it)\n"
    "\n"
    "Ctrl-C saves a checkpoint and stops (a second Ctrl-C stops at once; the last checkpoint\n"
    "stays intact). A run never starts over an existing run without --resume or --force.\n"
    "See docs/config.md for every key.\n";

/* First signal while steps run: save and stop. During set-up (nothing
 * written yet) or on a second signal: end now; checkpoints are written to a
 * temporary file and renamed, so no file is left half-written. */
static volatile sig_atomic_t g_signals;
static void on_sigint(int sig) {
    if (!pd_train_request_stop() || g_signals++) _exit(128 + sig);
}

int cmd_train(int argc, char **argv) {
    const char *config = NULL, *out = NULL, *resume = NULL;
    const char *sets[64], *plugins[8];
    int nsets = 0, nplugins = 0, verbose = 1;
    bool force = false;
    long steps = 0;
    double minutes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--out") && has) out = argv[++i];
        else if (!strcmp(a, "--resume") && has) resume = argv[++i];
        else if (!strcmp(a, "--steps") && has) {
            if (!cli_int(argv[++i], &steps) || steps < 0) return cli_usage(usage, "--steps %s: expected a non-negative integer", argv[i]);
        } else if (!strcmp(a, "--minutes") && has) {
            if (!cli_double(argv[++i], &minutes) || minutes < 0 || minutes > 1e9) return cli_usage(usage, "--minutes %s: expected a finite non-negative number", argv[i]);
        } else if (!strcmp(a, "--set") && has) {
            if (nsets == 64) return cli_usage(usage, "too many --set options (64 at most)");
            sets[nsets++] = argv[++i];
        } else if (!strcmp(a, "--plugin") && has) {
            if (nplugins == 8) return cli_usage(usage, "too many --plugin options (8 at most)");
            plugins[nplugins++] = argv[++i];
        } else if (!strcmp(a, "--quiet")) verbose = 0;
        else if (!strcmp(a, "--force")) force = true;
        else if (a[0] == '-') return cli_usage(usage, "unknown or incomplete option '%s'", a);
        else if (!config) config = a;
        else return cli_usage(usage, "unexpected argument '%s'", a);
    }
    if (!config) return cli_usage(usage, "train needs a CONFIG file");
    static pd_config cfg;
    pd_config_defaults(&cfg);
    if (pd_config_load_file(&cfg, config)) return cli_fail("config");
    if (pd_session_apply_args(&cfg, plugins, nplugins, sets, nsets)) return cli_fail("config");
    if (pd_config_validate(&cfg)) return cli_fail("config");

    char out_buf[1024];
    if (!out) {
        const char *base = strrchr(config, '/') ? strrchr(config, '/') + 1 : config;
        snprintf(out_buf, sizeof out_buf, "runs/%.*s", (int)strcspn(base, "."), base);
        out = out_buf;
    }
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    pd_train_opts o = {&cfg, out, steps, minutes, resume, verbose, force};
    pd_train_result res;
    pd_status s = pd_train_run(&o, &res);
    if (s == PD_ERR_INTERRUPTED) {
        if (pd_dist_rank() == 0) fprintf(stderr, "pixeldit: %s\n", pd_last_error());
        return CLI_INTERRUPTED;
    }
    if (s) return cli_fail("train");
    if (verbose && pd_dist_rank() == 0) printf("trained to step %lld, loss %.4f, %.1f images/s; checkpoint %s\n",
                        (long long)res.step, (double)res.last_loss, res.images_per_s, res.checkpoint);
    return CLI_OK;
}
