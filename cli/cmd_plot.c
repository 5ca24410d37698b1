/* pixeldit plot LOG.csv... --out PNG */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/plot.h"

static const char *usage =
    "usage: pixeldit plot LOG.csv [LOG.csv ...] --out PNG [--column NAME] [--label NAME ...]\n"
    "\n"
    "  One log: its loss and every loss-part column, smoothed, with the learning rate\n"
    "  (the loss.png the trainer writes). Several logs (at most 10): one curve per run,\n"
    "  overlaid, with a legend.\n"
    "\n"
    "  --out PNG        picture to write (960 x 540)\n"
    "  --column NAME    log.csv column to overlay (default loss; with one log, plots\n"
    "                   that column alone)\n"
    "  --label NAME     legend name of the next log, in order (default: its folder)\n";

int cmd_plot(int argc, char **argv) {
    const char *logs[10], *labels[10] = {0}, *out = NULL, *column = NULL;
    int n = 0, n_labels = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--out") && has) out = argv[++i];
        else if (!strcmp(a, "--column") && has) column = argv[++i];
        else if (!strcmp(a, "--label") && has) {
            if (n_labels == 10) return cli_usage(usage, "more than 10 --label");
            labels[n_labels++] = argv[++i];
        } else if (a[0] == '-') return cli_usage(usage, "unknown or incomplete option '%s'", a);
        else if (n == 10) return cli_usage(usage, "at most 10 logs, got more");
        else logs[n++] = a;
    }
    if (n == 0) return cli_usage(usage, "plot needs at least one LOG.csv");
    if (!out) return cli_usage(usage, "plot needs --out PNG");
    if (n_labels > n) return cli_usage(usage, "%d --label for %d logs", n_labels, n);
    pd_status s = n == 1 && !column ? pd_plot_training_log(logs[0], out)
                                    : pd_plot_compare(logs, labels, n, column, out);
    if (s) return cli_fail("plot");
    printf("wrote %s\n", out);
    return CLI_OK;
}
