/* Helpers shared by the subcommands. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/plugin_record.h"

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

/* Strict: the whole argument, no blanks, no overflow (99999999999999999999
 * is refused, not clamped to LONG_MAX). */
bool cli_int(const char *s, long *out) {
    char *end;
    if (!*s || isspace((unsigned char)*s)) return false;
    errno = 0;
    *out = strtol(s, &end, 10);
    return end != s && *end == '\0' && errno != ERANGE;
}

/* Strict: the whole argument, finite (nan, inf and overflow are refused). */
bool cli_double(const char *s, double *out) {
    char *end;
    if (!*s || isspace((unsigned char)*s)) return false;
    errno = 0;
    *out = strtod(s, &end);
    return end != s && *end == '\0' && errno != ERANGE && isfinite(*out);
}

int cli_open_checkpoint(const char *path, int ema, const char *const *plugins, int n_plugins,
                        pd_session *s, pd_st_file **f) {
    if (pd_st_open(path, f)) return cli_fail("cannot read checkpoint");
    const char *ini, *recorded;
    if (pd_checkpoint_read_meta(*f, &ini, &recorded)) return cli_fail("cannot use checkpoint");
    pd_plugin_record rec;
    if (pd_plugin_record_parse(recorded, path, &rec)) return cli_fail("cannot use checkpoint");
    static pd_config cfg;
    pd_config_defaults(&cfg);
    if (pd_config_load_string(&cfg, ini, path)) return cli_fail("checkpoint config");
    if (pd_plugin_record_check_config(&cfg, path)) return cli_fail("cannot use checkpoint");
    /* plugins the user names on the command line are loaded first, so the
     * checkpoint's names find them */
    pd_plugin *given[16] = {0};
    for (int i = 0; i < n_plugins; i++)
        if (pd_plugin_load(plugins[i], 0, &given[i < 16 ? i : 15])) return cli_fail("--plugin");
    if (pd_session_open_model(s, &cfg)) return cli_fail(path);
    /* a --plugin the model does not run is said, not silently ignored */
    for (int i = 0; i < n_plugins && i < 16; i++)
        if (given[i] && given[i] != s->decoder && given[i] != s->attention)
            fprintf(stderr, "pixeldit: warning: --plugin %s: %s plugin %s is not used: %s runs "
                    "decoder %s and attention %s%s\n", plugins[i],
                    pd_plugin_kind_name(pd_plugin_get_kind(given[i])), pd_plugin_name(given[i]), path,
                    pd_plugin_name(s->decoder), pd_plugin_name(s->attention),
                    pd_plugin_get_kind(given[i]) == PD_PLUGIN_LOSS ? " (no loss is computed here)" : "");
    char note[512];
    if (pd_plugin_record_check(&rec, s, PD_RECORD_MODEL, path, note, sizeof note)) {
        pd_session_close(s);
        return cli_fail("cannot use checkpoint");
    }
    if (note[0]) fprintf(stderr, "pixeldit: warning: %s: %s\n", path, note);
    const char *prefix = ema == 1 ? "ema1." : ema == 2 ? "ema2." : "";
    if (pd_checkpoint_load_params(*f, pd_jit_params(s->model), prefix)) {
        pd_session_close(s);
        return cli_fail("cannot load weights");
    }
    return CLI_OK;
}
