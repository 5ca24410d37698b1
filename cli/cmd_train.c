/* pixeldit train CONFIG [options] */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pixeldit/dist.h"
#include "pixeldit/limits.h"
#include "pixeldit/trainer.h"

static const char *epilog =
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
    int nsets = 0, nplugins = 0;
    bool quiet = false, force = false;
    long steps = 0;
    double minutes = 0;
    const cli_opt opts[] = {
        {.name = "--out", .kind = CLI_STRING, .arg = "DIR", .dst = &out,
         .help = "where checkpoint-last.safetensors, log.csv and samples/ go (default: runs/NAME)"},
        {.name = "--steps", .kind = CLI_INT, .arg = "N", .dst = &steps, .min = 0, .max = (double)PD_MAX_STEP,
         .help = "run N optimiser steps now (default: [train] epochs, or until stopped)"},
        {.name = "--minutes", .kind = CLI_DOUBLE, .arg = "M", .dst = &minutes, .min = 0, .max = 1e9,
         .help = "stop after M minutes of wall time"},
        {.name = "--resume", .kind = CLI_STRING, .arg = "CKPT", .dst = &resume,
         .help = "continue exactly from a checkpoint (weights, EMAs, AdamW, RNG, data order)"},
        {.name = "--set", .kind = CLI_STRINGS, .arg = "s.k=v", .dst = sets, .max_count = 64, .count = &nsets,
         .help = "override a config key"},
        {.name = "--plugin", .kind = CLI_STRINGS, .arg = "F.so", .dst = plugins, .max_count = 8,
         .count = &nplugins, .help = "put a plugin in the slot of its kind; a loss is added to [loss]"},
        {.name = "--quiet", .kind = CLI_FLAG, .dst = &quiet, .help = "no progress output"},
        {.name = "--force", .kind = CLI_FLAG, .dst = &force,
         .help = "start over in a --out folder that already holds a run (replaces it)"},
    };
    const cli_command cmd = {.name = "train", .operand = "CONFIG", .operands = &config, .min_operands = 1,
                             .max_operands = 1, .opts = opts, .n_opts = (int)(sizeof opts / sizeof *opts),
                             .epilog = epilog};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
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
    pd_train_opts o = {.cfg = &cfg, .out_dir = out, .max_steps = steps, .max_minutes = minutes,
                       .resume = resume, .verbose = !quiet, .force = force};
    pd_train_result res;
    pd_status s = pd_train_run(&o, &res);
    if (s == PD_ERR_INTERRUPTED) {
        if (pd_dist_rank() == 0) fprintf(stderr, "pixeldit: %s\n", pd_last_error());
        return CLI_INTERRUPTED;
    }
    if (s) return cli_fail("train");
    if (!quiet && pd_dist_rank() == 0) printf("trained to step %lld, loss %.4f, %.1f images/s; checkpoint %s\n",
                        (long long)res.step, (double)res.last_loss, res.images_per_s, res.checkpoint);
    return CLI_OK;
}
