/* The subcommands' argv parser: one table of options per command, from
 * which the parsing, the checks and the --help text all come (so they
 * cannot drift apart).
 *
 *   --name value and --name=value are the same; "-h"/"--help" anywhere
 *   prints the help; "--" ends the options. Numbers are strict (cli_int /
 *   cli_double: no junk, blanks, overflow, nan or inf) and range-checked
 *   against the table. An unknown option is named, with "did you mean"
 *   when a declared one is close. */
#ifndef PD_CLI_OPTS_H
#define PD_CLI_OPTS_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>

/* cli_parse's "go on": no error, no --help. */
enum { CLI_CONTINUE = -1 };
#define CLI_NO_MAX INFINITY

typedef enum { CLI_FLAG, CLI_INT, CLI_DOUBLE, CLI_STRING, CLI_STRINGS } cli_kind;

typedef struct cli_opt {
    const char *name;    /* "--steps" */
    cli_kind kind;
    const char *arg;     /* the value's name in the help, "N"; unused for a flag */
    const char *help;    /* '\n' starts another help line */
    void *dst;           /* FLAG bool*, INT long*, DOUBLE double*, STRING const char**,
                          * STRINGS const char *[max_count] */
    double min, max;     /* INT, DOUBLE: allowed range (max may be CLI_NO_MAX) */
    const char *choices; /* STRING: allowed words, "heun|euler"; NULL: any */
    int max_count;       /* STRINGS: capacity of dst */
    int *count;          /* STRINGS: how many were given */
    bool required;       /* the command needs it (shown without brackets) */
} cli_opt;

typedef struct cli_command {
    const char *name;       /* "train" */
    const char *synopsis;   /* after "usage: pixeldit NAME"; NULL: made from the table */
    const char *operand;    /* positional arguments' name, "CONFIG"; NULL: none */
    const char **operands;  /* where they go, max_operands of them */
    int *n_operands;        /* optional: how many were given */
    int min_operands, max_operands;
    const cli_opt *opts;
    int n_opts;
    const char *epilog;     /* text after the option list */
} cli_command;

/* Parses argv[1..argc) (argv[0] is the command's name) into the table's
 * destinations. Returns CLI_CONTINUE when the command should run, CLI_OK
 * after printing --help, CLI_USAGE after printing an error and the usage. */
int cli_parse(const cli_command *c, int argc, char **argv);

/* The usage text: synopsis, options, epilog. */
void cli_print_usage(const cli_command *c, FILE *f);

/* "pixeldit: <message>" and the usage on stderr; returns CLI_USAGE. For
 * checks the table cannot express (options that exclude each other). */
int cli_opts_fail(const cli_command *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
