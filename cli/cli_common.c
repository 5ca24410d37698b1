/* Helpers shared by the subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char *what) {
    fprintf(stderr, "pixeldit: %s: %s\n", what, pd_last_error());
    return CLI_ERR;
}

int cli_usage(const char *usage, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pixeldit: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n%s", usage);
    va_end(ap);
    return CLI_USAGE;
}

bool cli_is_help(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

bool cli_int(const char *s, long *out) {
    char *end;
    *out = strtol(s, &end, 10);
    return end != s && *end == '\0';
}

bool cli_double(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == '\0';
}

/* The plugin a checkpoint recorded for slot/name must be loadable with
 * the same major version. */
static int check_plugin_versions(const char *path, const pd_session *s, const char *recorded) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", recorded);
    for (char *tok = strtok(buf, ";"); tok; tok = strtok(NULL, ";")) {
        char *eq = strchr(tok, '='), *at = strchr(tok, '@');
        if (!eq || !at) continue;
        *at = '\0';
        const char *name = eq + 1, *ver = at + 1;
        const pd_plugin *pl = pd_plugin_find(name);
        if (!pl) {
            fprintf(stderr, "pixeldit: %s: checkpoint was made with plugin %s %s, which is not "
                    "loaded (put it on PIXELDIT_PLUGIN_PATH or pass --plugin FILE.so)\n", path, name, ver);
            return CLI_ERR;
        }
        if (atoi(ver) != atoi(pd_plugin_version(pl))) {
            fprintf(stderr, "pixeldit: %s: checkpoint was made with plugin %s %s, found version %s at "
                    "%s (incompatible major version)\n", path, name, ver, pd_plugin_version(pl),
                    pd_plugin_path(pl));
            return CLI_ERR;
        }
        if (strcmp(ver, pd_plugin_version(pl)))
            fprintf(stderr, "pixeldit: warning: %s: plugin %s was %s when saved, now %s\n", path, name,
                    ver, pd_plugin_version(pl));
    }
    (void)s;
    return CLI_OK;
}

int cli_open_checkpoint(const char *path, int ema, const char *const *plugins, int n_plugins,
                        pd_session *s, pd_st_file **f) {
    if (pd_st_open(path, f)) return cli_fail("cannot read checkpoint");
    const char *ini, *recorded;
    if (pd_checkpoint_read_meta(*f, &ini, &recorded)) return cli_fail("cannot use checkpoint");
    static pd_config cfg;
    pd_config_defaults(&cfg);
    if (pd_config_load_string(&cfg, ini, path)) return cli_fail("checkpoint config");
    for (int i = 0; i < n_plugins; i++)
        if (pd_plugin_load(plugins[i], 0, &(pd_plugin *){0})) return cli_fail("--plugin");
    if (pd_session_open(s, &cfg)) return cli_fail(path);
    if (check_plugin_versions(path, s, recorded)) return CLI_ERR;
    const char *prefix = ema == 1 ? "ema1." : ema == 2 ? "ema2." : "";
    if (pd_checkpoint_load_params(*f, pd_jit_params(s->model), prefix)) return cli_fail("cannot load weights");
    return CLI_OK;
}
