/* Shared pieces of the pixeldit command-line tool. */
#ifndef PD_CLI_H
#define PD_CLI_H

#include <stdbool.h>

#include "cli_opts.h"

#include "pixeldit/checkpoint.h"
#include "pixeldit/session.h"

/* Exit codes: 0 ok, 1 runtime error, 2 usage error, 130 interrupted. */
enum { CLI_OK = 0, CLI_ERR = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_plugin_check(int argc, char **argv); /* cmd_plugin_check.c: a plugin against its reference */
int cmd_bench(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_ablate(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_data(int argc, char **argv); /* cmd_data.c: pack, info */

/* Prints "pixeldit: <what>: <last error>" and returns CLI_ERR. */
int cli_fail(const char *what);
/* Prints "pixeldit: <last error>" (the library named what failed) and
 * returns CLI_ERR. */
int cli_error(void);
/* Prints a usage error and returns CLI_USAGE. */
int cli_usage(const char *usage, const char *fmt, ...);
/* True when arg is "-h" or "--help". */
bool cli_is_help(const char *arg);
/* Parses a whole int / double argument; false on junk, blanks, overflow,
 * and (double) nan or inf. Range checks are the caller's. */
bool cli_int(const char *s, long *out);
bool cli_double(const char *s, double *out);

/* pd_session_open_checkpoint (checkpoint.h) with the message printed on
 * failure. */
int cli_open_checkpoint(const char *path, int ema, const char *const *plugins, int n_plugins,
                        pd_session *s, pd_st_file **f);

#endif
