/* The run folder's rules (internal): a run never replaces good data.
 *
 * - A fresh run (no --resume) into a folder that already holds
 *   checkpoint-last.safetensors is refused unless forced.
 * - Temporary files left by killed runs (NAME.tmp.<pid> of a process that
 *   is gone, NAME one of the files written here) are removed.
 * - On resume, log.csv is cut back to the checkpoint's step, so rows of
 *   steps that the checkpoint does not hold (written after it, before a
 *   kill) are not repeated.
 * - Paths are built to any length, never truncated.
 */
#ifndef PD_RUN_DIR_H
#define PD_RUN_DIR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pixeldit/status.h"

typedef struct pd_run_dir {
    char *dir;        /* as given */
    char *checkpoint; /* DIR/checkpoint-last.safetensors */
    char *log;        /* DIR/log.csv */
    char *samples;    /* DIR/samples */
    int stale_removed; /* temp files removed by pd_run_dir_open */
} pd_run_dir;

/* Creates DIR and DIR/samples, applies the rules above. resume is the
 * checkpoint being resumed (NULL: a fresh run) and resume_step its step.
 * A resume into a DIR that holds another run (a checkpoint-last that is
 * not `resume`, or a log.csv) is refused unless forced. */
pd_status pd_run_dir_open(pd_run_dir *rd, const char *dir, const char *resume,
                          int64_t resume_step, bool force);
void pd_run_dir_close(pd_run_dir *rd);

/* "DIR/samples/NAME", malloc'ed (NULL and error set when out of memory). */
char *pd_run_dir_sample_path(const pd_run_dir *rd, const char *name);

/* Cuts the CSV at path after the last row whose first field (the step) is
 * <= step; drops a partial last line. A missing file is fine. */
pd_status pd_run_dir_cut_log(const char *path, int64_t step);

/* A file the run appends to (log.csv, eval.csv) must be a regular file or
 * a character device if it exists (a FIFO would block, a link to a file
 * would receive the rows): PD_ERR_IO naming what was found otherwise. */
pd_status pd_run_dir_check_appended(const char *path);

/* Removes PREFIX*.tmp.<pid> files in dir whose process is gone; returns
 * how many, or -1 with the error set. */
int pd_run_dir_remove_stale(const char *dir);

/* printf-style append to a log file that reports the first write error
 * (full disk, I/O error) instead of dropping it. */
pd_status pd_log_printf(FILE *f, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* fflush with the error reported. */
pd_status pd_log_flush(FILE *f, const char *path);

#endif
