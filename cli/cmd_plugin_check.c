/* pixeldit plugin-check PLUGIN REF.safetensors: a plugin against the output
 * and gradients of its reference module (pixeldit/parity.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/parity.h"
#include "pixeldit/runtime.h"

#define MAX_SETS 32

static const char *epilog =
    "Runs the plugin's forward and backward on the inputs and parameters of REF (written by\n"
    "share/pixeldit/python/pixeldit_reference.py from a torch module, see docs/plugins.md) and\n"
    "compares the output and every gradient: a tensor passes when\n"
    "max|got - ref| <= atol + rtol * max|ref|. Prints one line per tensor. Settings come from\n"
    "REF's config, then the plugin's section of --config, then --set (later wins).\n"
    "Exit status 0 when all pass, 1 otherwise.\n";

/* The keys of the plugin's section in an INI config: plain keys and
 * NAME.key for this plugin (other plugins' NAME.key are skipped). */
static int config_settings(const char *path, const char *plugin, pd_plugin_setting *set, int *n,
                           pd_config *cfg) {
    pd_config_defaults(cfg);
    if (pd_config_load_file(cfg, path)) return cli_fail("plugin-check");
    pd_plugin *pl = NULL;
    if (pd_plugin_load(plugin, 0, &pl)) return cli_fail("plugin-check");
    const pd_config_plugins *sec = pd_config_plugin_section(cfg, pd_plugin_kind_name(pd_plugin_get_kind(pl)));
    size_t len = strlen(pd_plugin_name(pl));
    for (int i = 0; sec && i < sec->n_raw && *n < MAX_SETS; i++) {
        const char *k = sec->raw[i].key, *dot = strchr(k, '.');
        if (dot && ((size_t)(dot - k) != len || strncmp(k, pd_plugin_name(pl), len))) continue;
        set[(*n)++] = (pd_plugin_setting){.key = dot ? dot + 1 : k, .value = sec->raw[i].value,
                                          .file = path, .line = 0};
    }
    return CLI_OK;
}

int cmd_plugin_check(int argc, char **argv) {
    const char *operands[2] = {0}, *config = NULL, *sets[MAX_SETS];
    int n_operands = 0, n_sets = 0;
    double rtol = pd_parity_defaults().rtol, atol = pd_parity_defaults().atol;
    bool quiet = false;
    const cli_opt opts[] = {
        {.name = "--config", .kind = CLI_STRING, .arg = "CFG.ini", .dst = &config,
         .help = "take the plugin's keys from its section ([decoder], [loss] or [attention])"},
        {.name = "--set", .kind = CLI_STRINGS, .arg = "KEY=VALUE", .dst = sets, .max_count = MAX_SETS,
         .count = &n_sets, .help = "one of the plugin's keys"},
        {.name = "--rtol", .kind = CLI_DOUBLE, .arg = "X", .dst = &rtol, .min = 0, .max = 1,
         .help = "tolerance relative to the tensor's largest |value| (default 1e-5)"},
        {.name = "--atol", .kind = CLI_DOUBLE, .arg = "X", .dst = &atol, .min = 0, .max = CLI_NO_MAX,
         .help = "absolute tolerance added to it (default 1e-7)"},
        {.name = "--quiet", .kind = CLI_FLAG, .dst = &quiet, .help = "print only a failure"},
    };
    const cli_command cmd = {.name = "plugin-check", .operand = "PLUGIN REF.safetensors",
                             .operands = operands, .n_operands = &n_operands, .min_operands = 2,
                             .max_operands = 2, .opts = opts, .n_opts = (int)(sizeof opts / sizeof *opts),
                             .epilog = epilog};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;

    pd_plugin_setting set[2 * MAX_SETS];
    int n = 0;
    static pd_config cfg; /* large; its raw values back set[] */
    if (config && (rc = config_settings(config, operands[0], set, &n, &cfg)) != CLI_OK) return rc;
    char buf[MAX_SETS][256];
    for (int i = 0; i < n_sets; i++) {
        snprintf(buf[i], sizeof buf[i], "%s", sets[i]);
        char *eq = strchr(buf[i], '=');
        if (!eq || eq == buf[i]) return cli_opts_fail(&cmd, "--set %s: expected KEY=VALUE", sets[i]);
        *eq = '\0';
        set[n++] = (pd_plugin_setting){.key = buf[i], .value = eq + 1, .file = "--set", .line = 0};
    }
    pd_set_num_threads(1); /* one summation order, as the in-tree goldens */
    pd_parity_opts o = {.rtol = rtol, .atol = atol, .report = quiet ? NULL : stdout};
    pd_parity_result res;
    if (pd_parity_check(operands[0], operands[1], set, n, &o, &res)) return cli_fail("plugin-check");
    if (!quiet) printf("plugin-check: OK\n");
    return CLI_OK;
}
