/* Table-driven argv parsing and --help text (see cli_opts.h). */
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/config.h" /* pd_config_suggest */

enum { HELP_COLUMN = 21, WRAP = 96 };

static bool has_value(const cli_opt *o) { return o->kind != CLI_FLAG; }

/* "--steps N", "--quiet": the option as the help shows it. */
static int label(const cli_opt *o, char *buf, size_t cap) {
    return snprintf(buf, cap, "%s%s%s", o->name, has_value(o) ? " " : "", has_value(o) ? o->arg : "");
}

/* Appends word to a line that wraps at WRAP columns, continuation lines
 * indented by indent. */
static void put_word(FILE *f, const char *word, int *col, int indent) {
    int len = (int)strlen(word);
    if (*col + 1 + len > WRAP && *col > indent) {
        fprintf(f, "\n%*s", indent, "");
        *col = indent;
    } else if (*col > indent) {
        fputc(' ', f);
        (*col)++;
    }
    fputs(word, f);
    *col += len;
}

static void print_synopsis(const cli_command *c, FILE *f) {
    int indent = fprintf(f, "usage: pixeldit %s ", c->name), col = indent;
    if (c->synopsis) {
        fprintf(f, "%s\n", c->synopsis);
        return;
    }
    char w[160];
    if (c->operand) {
        const char *more = c->max_operands > 1 ? "..." : "";
        if (c->min_operands > 0) snprintf(w, sizeof w, "%s%s", c->operand, more);
        else snprintf(w, sizeof w, "[%s%s]", c->operand, more);
        put_word(f, w, &col, indent);
    }
    for (int i = 0; i < c->n_opts; i++) {
        const cli_opt *o = &c->opts[i];
        char l[96];
        label(o, l, sizeof l);
        snprintf(w, sizeof w, "%s%s%s%s", o->required ? "" : "[", l, o->kind == CLI_STRINGS ? " ..." : "",
                 o->required ? "" : "]");
        put_word(f, w, &col, indent);
    }
    fputc('\n', f);
}

void cli_print_usage(const cli_command *c, FILE *f) {
    print_synopsis(c, f);
    if (c->n_opts) fputc('\n', f);
    for (int i = 0; i < c->n_opts; i++) {
        const cli_opt *o = &c->opts[i];
        char l[96];
        int n = label(o, l, sizeof l);
        fprintf(f, "  %s", l);
        if (2 + n + 2 > HELP_COLUMN) fprintf(f, "\n%*s", HELP_COLUMN, "");
        else fprintf(f, "%*s", HELP_COLUMN - 2 - n, "");
        for (const char *h = o->help ? o->help : ""; *h;) { /* one help line at a time */
            size_t len = strcspn(h, "\n");
            fprintf(f, "%.*s", (int)len, h);
            h += len;
            if (*h) fprintf(f, "\n%*s", HELP_COLUMN, ""), h++;
        }
        if (o->kind == CLI_STRINGS) fputs(" (repeatable)", f);
        fputc('\n', f);
    }
    if (c->epilog) fprintf(f, "\n%s", c->epilog);
}

static int vfail(const cli_command *c, const char *fmt, va_list ap) {
    fprintf(stderr, "pixeldit: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    cli_print_usage(c, stderr);
    return CLI_USAGE;
}

int cli_opts_fail(const cli_command *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, fmt, ap);
    va_end(ap);
    return rc;
}

/* "an integer in 1..100000", "a finite number >= 0" */
static void allowed(const cli_opt *o, char *buf, size_t cap) {
    const char *what = o->kind == CLI_INT ? "an integer" : "a finite number";
    /* an integer flag is a long: say where it ends rather than hide it */
    if (o->kind == CLI_INT)
        snprintf(buf, cap, "%s in %ld..%ld", what, (long)o->min,
                 o->max < 0x1p63 ? (long)o->max : LONG_MAX);
    else if (o->max == CLI_NO_MAX) snprintf(buf, cap, "%s >= %.15g", what, o->min);
    else snprintf(buf, cap, "%s in %.15g..%.15g", what, o->min, o->max);
}

static bool is_choice(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        size_t len = strcspn(p, "|");
        if (len == n && !strncmp(p, v, n)) return true;
        p += len + (p[len] == '|');
    }
    return false;
}

/* Stores one value of o; on a bad value prints the error and returns CLI_USAGE. */
static int store(const cli_command *c, const cli_opt *o, const char *v) {
    char want[96];
    switch (o->kind) {
    case CLI_FLAG:
        *(bool *)o->dst = true;
        break;
    case CLI_INT: {
        /* compared as 64-bit integers: as doubles, 2^53 + 1 would equal a
         * bound of 2^53 */
        long x, lo = (long)o->min, hi = o->max < 0x1p63 ? (long)o->max : LONG_MAX;
        if (!cli_int(v, &x) || x < lo || x > hi) {
            allowed(o, want, sizeof want);
            return cli_opts_fail(c, "%s %s: expected %s", o->name, v, want);
        }
        *(long *)o->dst = x;
        break;
    }
    case CLI_DOUBLE: {
        double x;
        if (!cli_double(v, &x) || !(x >= o->min && x <= o->max)) {
            allowed(o, want, sizeof want);
            return cli_opts_fail(c, "%s %s: expected %s", o->name, v, want);
        }
        *(double *)o->dst = x;
        break;
    }
    case CLI_STRING:
        if (o->choices && !is_choice(o->choices, v))
            return cli_opts_fail(c, "%s %s: expected one of %s", o->name, v, o->choices);
        *(const char **)o->dst = v; /* the last one wins */
        break;
    case CLI_STRINGS:
        if (*o->count == o->max_count)
            return cli_opts_fail(c, "too many %s options (%d at most)", o->name, o->max_count);
        ((const char **)o->dst)[(*o->count)++] = v;
        break;
    }
    return CLI_CONTINUE;
}

static int unknown(const cli_command *c, const char *arg) {
    const char *names[64];
    int n = 0;
    for (int i = 0; i < c->n_opts && n < 64; i++) names[n++] = c->opts[i].name + 2;
    char word[64];
    snprintf(word, sizeof word, "%.*s", (int)strcspn(arg + strspn(arg, "-"), "="), arg + strspn(arg, "-"));
    const char *near = pd_config_suggest(word, names, n);
    if (near) return cli_opts_fail(c, "unknown option '%s' (did you mean '--%s'?)", arg, near);
    return cli_opts_fail(c, "unknown option '%s'", arg);
}

static const cli_opt *find(const cli_command *c, const char *arg, size_t len) {
    for (int i = 0; i < c->n_opts; i++)
        if (strlen(c->opts[i].name) == len && !strncmp(c->opts[i].name, arg, len)) return &c->opts[i];
    return NULL;
}

int cli_parse(const cli_command *c, int argc, char **argv) {
    int n_operands = 0;
    bool seen[64] = {0}, operands_only = false;
    if (c->n_opts > 64) return cli_opts_fail(c, "internal: %s has more than 64 options", c->name);
    for (int i = 0; i < c->n_opts; i++)
        if (c->opts[i].kind == CLI_STRINGS) *c->opts[i].count = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!operands_only && cli_is_help(a)) {
            cli_print_usage(c, stdout);
            return CLI_OK;
        }
        if (!operands_only && !strcmp(a, "--")) {
            operands_only = true;
            continue;
        }
        if (operands_only || a[0] != '-' || !a[1]) { /* "-" alone is an operand (stdin/stdout) */
            if (n_operands == c->max_operands)
                return c->max_operands
                           ? cli_opts_fail(c, "unexpected argument '%s' (%d %s at most)", a, c->max_operands,
                                           c->operand)
                           : cli_opts_fail(c, "unexpected argument '%s'", a);
            c->operands[n_operands++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        const cli_opt *o = find(c, a, eq ? (size_t)(eq - a) : strlen(a));
        if (!o) return unknown(c, a);
        const char *v = NULL;
        if (!has_value(o) && eq) return cli_opts_fail(c, "%s takes no value", o->name);
        if (has_value(o)) {
            if (eq) v = eq + 1;
            else if (i + 1 < argc) v = argv[++i];
            else return cli_opts_fail(c, "%s needs a value (%s)", o->name, o->arg);
        }
        int rc = store(c, o, v);
        if (rc != CLI_CONTINUE) return rc;
        seen[o - c->opts] = true;
    }
    if (c->n_operands) *c->n_operands = n_operands;
    if (n_operands < c->min_operands)
        return cli_opts_fail(c, "%s needs %s", c->name, c->operand);
    for (int i = 0; i < c->n_opts; i++)
        if (c->opts[i].required && !seen[i])
            return cli_opts_fail(c, "%s needs %s %s", c->name, c->opts[i].name, c->opts[i].arg);
    return CLI_CONTINUE;
}
