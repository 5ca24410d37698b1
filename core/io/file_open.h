/* Opening files that pixeldit reads or writes (internal).
 *
 * One rule for every input: a regular file, checked on the opened
 * descriptor. open() uses O_NONBLOCK so that a FIFO with no writer does not
 * block the open, fstat() refuses anything that is not a regular file (FIFO,
 * device, directory, socket), and only then is the file read, with
 * O_NONBLOCK cleared. Checking the path first (stat, then open) would leave
 * a window for a swap.
 *
 * One rule for every output: a temporary NAME.tmp.<pid> created with
 * O_EXCL|O_NOFOLLOW (never through a link or over a file that is there),
 * written, then renamed over NAME. The orphan clean-up of a run folder
 * (core/app/run_dir.c) removes only such names of the files pixeldit writes.
 */
#ifndef PD_FILE_OPEN_H
#define PD_FILE_OPEN_H

#include <stddef.h>
#include <stdio.h>

#include "pixeldit/status.h"

/* Opens path read-only if it is a regular file. Returns the descriptor, or
 * -1 with the error set to "PATH: cannot open: REASON" or "PATH: not a
 * regular file (a FIFO/device/directory...)" prefixed by `what` when not
 * NULL ("WHAT PATH: ..."). `st` may be NULL; when not, it gets fstat's
 * result. status is the code the failure returns (PD_ERR_IO when 0). */
struct stat;
int pd_open_regular(const char *path, const char *what, pd_status status, struct stat *st);

/* pd_open_regular as a stdio stream ("rb"); NULL with the error set. */
FILE *pd_fopen_regular(const char *path, const char *what, pd_status status);

/* The name of a file's kind for messages: "a FIFO", "a directory", ... */
const char *pd_file_kind(unsigned mode);

/* open(tmp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0644). A name
 * already there is this process's own NAME.tmp.<pid> (a killed run whose
 * pid was reused, or a planted link): it is unlinked (never followed) and
 * the create tried once more. -1 with errno set on failure. */
int pd_tmp_open_excl(const char *tmp);

/* Creates `path`.tmp.<pid> exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, mode
 * 0644) and writes its name into tmp (tmp_cap bytes). Returns the
 * descriptor, or -1 with the error set naming the temporary and the
 * system's reason (a file or link already there is never followed or
 * truncated). */
int pd_tmp_create(const char *path, char *tmp, size_t tmp_cap);

/* fsyncs fd, closes it and renames tmp over path (then syncs the folder).
 * On any failure tmp is removed, path is left as it was and the error is
 * set naming path and the reason. fd is closed in every case. */
pd_status pd_tmp_commit(int fd, const char *tmp, const char *path);

/* The same for a stream opened with fdopen on pd_tmp_create's descriptor:
 * flushes (a write error is reported with the system's reason), fsyncs,
 * closes and renames. f is closed in every case. */
pd_status pd_tmp_commit_stream(FILE *f, const char *tmp, const char *path);

/* pd_tmp_create as a stdio stream for pd_tmp_commit_stream (NULL with the
 * error set; nothing is left behind). */
FILE *pd_tmp_fopen(const char *path, char *tmp, size_t tmp_cap);

/* Closes fd (if >= 0) and removes tmp: the abandon path. */
void pd_tmp_abandon(int fd, const char *tmp);

#endif
