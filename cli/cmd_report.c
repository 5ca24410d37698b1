/* pixeldit report STUDY_DIR... --out PAGE.md [options] */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/eval.h"

static const char *epilog =
    "Each STUDY_DIR holds the run records of one regime, as `pixeldit ablate --results STUDY_DIR`\n"
    "writes them (CONFIG/seed<k>.json), and optionally bench/CONFIG[.round].json from\n"
    "`pixeldit bench CONFIG --json` on a quiet machine (the step times of the equal-compute view).\n"
    "The baseline of a study is the config named like its folder (results/jitlike: jitlike).\n"
    "Plots run to the step every run reached; runs continued past it get a plot and a table of their\n"
    "own (FD at each multiple of that step on 3-point means, against the same seed's baseline).\n"
    "The page regenerating docs/results.md:\n"
    "  pixeldit report results/jitlike results/small --notes results/design_notes.ini \\\n"
    "    --text results/notes.md --plots docs/results --link results --out docs/results.md\n";

int cmd_report(int argc, char **argv) {
    const char *studies[16], *out = NULL, *plots = NULL, *link = NULL, *notes = NULL, *text = NULL;
    const char *weights = "ema1";
    int n = 0;
    const cli_opt opts[] = {
        {.name = "--out", .kind = CLI_STRING, .arg = "FILE.md", .dst = &out, .required = true,
         .help = "the page to write (replaced atomically)"},
        {.name = "--plots", .kind = CLI_STRING, .arg = "DIR", .dst = &plots, .required = true,
         .help = "folder for the PNG plots (created)"},
        {.name = "--link", .kind = CLI_STRING, .arg = "PATH", .dst = &link,
         .help = "how the page refers to the plots folder (default: --plots as given)"},
        {.name = "--notes", .kind = CLI_STRING, .arg = "FILE.ini", .dst = &notes,
         .help = "the design notes' predictions: [suffix] mechanism, fid_gain, overhead;\n"
                 "the page then reads each mechanism's interval against them (\"Against the\n"
                 "design notes\": contradicts / agrees / cannot tell yet)"},
        {.name = "--text", .kind = CLI_STRING, .arg = "FILE.md", .dst = &text,
         .help = "hand-written markdown appended after the tables"},
        {.name = "--weights", .kind = CLI_STRING, .arg = "ema1|raw", .dst = &weights, .choices = "ema1|raw",
         .help = "which weights' curves to compare (default ema1)"},
    };
    const cli_command cmd = {.name = "report", .operand = "STUDY_DIR", .operands = studies, .n_operands = &n,
                             .min_operands = 1, .max_operands = 16, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof *opts), .epilog = epilog};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
    char command[2048];
    size_t used = (size_t)snprintf(command, sizeof command, "pixeldit report");
    for (int i = 1; i < argc && used < sizeof command; i++)
        used += (size_t)snprintf(command + used, sizeof command - used, " %s", argv[i]);
    pd_report_opts o = {.n_studies = n, .studies = studies, .out = out, .plot_dir = plots, .plot_link = link,
                        .notes = notes, .text = text, .weights = weights, .command = command};
    if (pd_report_write(&o)) return cli_fail("report");
    printf("wrote %s (plots in %s)\n", out, plots);
    return CLI_OK;
}
