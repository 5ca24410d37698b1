/* Helpers shared by the subcommands. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char *what) {
    fprintf(stderr, "pixeldit: %s: %s\n", what, pd_last_error());
    return CLI_ERR;
}

int cli_error(void) {
    fprintf(stderr, "pixeldit: %s\n", pd_last_error());
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
    if (pd_session_open_checkpoint(s, path, ema, plugins, n_plugins, f)) return cli_error();
    return CLI_OK;
}
