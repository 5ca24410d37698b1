/* pixeldit plot LOG.csv... --out PNG */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/plot.h"

static const char *epilog =
    "One log: its loss and every loss-part column, smoothed, with the learning rate (the\n"
    "loss.png the trainer writes). Several logs (at most 10): one curve per run, overlaid,\n"
    "with a legend. --x/--y: one results CSV as lines of y against x, one per value of --group.\n";

int cmd_plot(int argc, char **argv) {
    const char *logs[10], *labels[10] = {0}, *out = NULL, *column = NULL;
    const char *x_col = NULL, *y_col = NULL, *group = NULL, *title = NULL;
    int n = 0, n_labels = 0;
    const cli_opt opts[] = {
        {.name = "--out", .kind = CLI_STRING, .arg = "PNG", .dst = &out, .required = true,
         .help = "picture to write (960 x 540)"},
        {.name = "--column", .kind = CLI_STRING, .arg = "NAME", .dst = &column,
         .help = "log.csv column to overlay (default loss; with one log, plots\nthat column alone)"},
        {.name = "--label", .kind = CLI_STRINGS, .arg = "NAME", .dst = labels, .max_count = 10,
         .count = &n_labels, .help = "legend name of the next log, in order (default: its folder)"},
        {.name = "--x", .kind = CLI_STRING, .arg = "NAME", .dst = &x_col,
         .help = "x-y chart of one results CSV: the x column (with --y)"},
        {.name = "--y", .kind = CLI_STRING, .arg = "NAME", .dst = &y_col, .help = "x-y chart: the y column"},
        {.name = "--group", .kind = CLI_STRING, .arg = "NAME", .dst = &group,
         .help = "x-y chart: one line per value of this text column"},
        {.name = "--title", .kind = CLI_STRING, .arg = "TEXT", .dst = &title, .help = "x-y chart: its title"},
    };
    const cli_command cmd = {.name = "plot", .operand = "LOG.csv", .operands = logs, .n_operands = &n,
                             .min_operands = 1, .max_operands = 10, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof *opts), .epilog = epilog};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
    if (n_labels > n) return cli_opts_fail(&cmd, "%d --label for %d logs", n_labels, n);
    if (!x_col != !y_col) return cli_opts_fail(&cmd, "--x and --y go together");
    if (x_col && (n != 1 || column || n_labels))
        return cli_opts_fail(&cmd, "--x/--y chart one CSV, without --column or --label");
    if ((group || title) && !x_col) return cli_opts_fail(&cmd, "--group and --title need --x and --y");
    pd_status s = x_col              ? pd_plot_xy(logs[0], x_col, y_col, group, title, out)
                  : n == 1 && !column ? pd_plot_training_log(logs[0], out)
                                      : pd_plot_compare(logs, labels, n, column, out);
    if (s) return cli_fail("plot");
    printf("wrote %s\n", out);
    return CLI_OK;
}
