/* pixeldit - train and sample pixel-space diffusion transformers.
 *
 * Dispatches to the subcommands; picks a fast OpenBLAS kernel before the
 * library starts (see blas_core_reexec). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pixeldit/dist.h"
#include "pixeldit/plugin_host.h"
#include "pixeldit/runtime.h"

static const char *usage =
    "usage: pixeldit <command> [options]\n"
    "\n"
    "commands:\n"
    "  train CONFIG      train a model (pixeldit train --help)\n"
    "  sample            sample images from a checkpoint\n"
    "  info FILE         describe a checkpoint\n"
    "  forward           run the model on inputs from a safetensors file\n"
    "  plugins [NAME]    list the plugins that can be found\n"
    "  plugin-check PLUGIN REF  a plugin's output and gradients against its reference module\n"
    "  bench CONFIG      measure training and sampling speed\n"
    "  plot LOG.csv...   draw training logs (loss, loss parts, lr) as a PNG\n"
    "  eval              score samples: FD, class accuracy, patch-grid score\n"
    "  ablate CONFIG...  train and evaluate configs on one budget, side by side\n"
    "  report STUDY...   the study's tables, plots and verdict from its run records\n"
    "  data pack SRC     decode an image folder once into a packed file (data --help)\n"
    "  version           print the version and the BLAS kernel\n"
    "\n"
    "environment: PIXELDIT_PLUGIN_PATH (plugin folders), OPENBLAS_CORETYPE (BLAS kernel),\n"
    "             OMP_NUM_THREADS or [train] threads (threads)\n";

/* Debian's OpenBLAS 0.3.21 picks its generic "Prescott" kernel on CPUs it
 * does not know, several times slower than the AVX-512 one. The kernel is
 * chosen when libopenblas loads, before main(), so when the user has not
 * chosen one and the CPU has AVX-512 we set OPENBLAS_CORETYPE and exec
 * ourselves once. OPENBLAS_CORETYPE always wins; PIXELDIT_BLAS_AUTO=0
 * turns this off. */
static void blas_core_reexec(char **argv) {
    const char *auto_env = getenv("PIXELDIT_BLAS_AUTO");
    if (getenv("OPENBLAS_CORETYPE") || (auto_env && !strcmp(auto_env, "0"))) return;
    const char *want = pd_blas_better_core();
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the generic kernel */
}

int main(int argc, char **argv) {
    blas_core_reexec(argv); /* before MPI starts: it may exec */
    if (pd_dist_init(&argc, &argv)) {
        fprintf(stderr, "pixeldit: %s\n", pd_last_error());
        return CLI_ERR;
    }
    /* the other commands would write the same files from every rank */
    static const char *const multi[] = {"train", "bench", "info", "version"};
    bool ok = false;
    for (size_t i = 0; i < sizeof multi / sizeof *multi && argc >= 2; i++) ok |= !strcmp(argv[1], multi[i]);
    if (pd_dist_size() > 1 && !ok) {
        fprintf(stderr, "pixeldit: only train, bench, info and version run on several MPI ranks "
                "(this job has %d)\n", pd_dist_size());
        return pd_dist_end(CLI_USAGE);
    }
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *cmd = argv[1];
    int rc;
    if (!strcmp(cmd, "train")) rc = cmd_train(argc - 1, argv + 1);
    else if (!strcmp(cmd, "sample")) rc = cmd_sample(argc - 1, argv + 1);
    else if (!strcmp(cmd, "info")) rc = cmd_info(argc - 1, argv + 1);
    else if (!strcmp(cmd, "forward")) rc = cmd_forward(argc - 1, argv + 1);
    else if (!strcmp(cmd, "plugins")) rc = cmd_plugins(argc - 1, argv + 1);
    else if (!strcmp(cmd, "plugin-check")) rc = cmd_plugin_check(argc - 1, argv + 1);
    else if (!strcmp(cmd, "bench")) rc = cmd_bench(argc - 1, argv + 1);
    else if (!strcmp(cmd, "plot")) rc = cmd_plot(argc - 1, argv + 1);
    else if (!strcmp(cmd, "eval")) rc = cmd_eval(argc - 1, argv + 1);
    else if (!strcmp(cmd, "ablate")) rc = cmd_ablate(argc - 1, argv + 1);
    else if (!strcmp(cmd, "report")) rc = cmd_report(argc - 1, argv + 1);
    else if (!strcmp(cmd, "data")) rc = cmd_data(argc - 1, argv + 1);
    else if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("pixeldit %s (plugin ABI %d.%d), OpenBLAS core %s\n", pd_version(), PD_PLUGIN_ABI_MAJOR,
               PD_PLUGIN_ABI_MINOR, pd_blas_corename());
        printf("MPI: %s; %d rank%s\n", pd_dist_library(), pd_dist_size(), pd_dist_size() > 1 ? "s" : "");
        rc = CLI_OK;
    } else {
        rc = cli_usage(usage, "unknown command '%s'", cmd);
    }
    pd_plugins_unload_all();
    return pd_dist_end(rc);
}
