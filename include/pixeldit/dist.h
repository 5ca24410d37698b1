/* pixeldit/dist.h - data-parallel training across processes (MPI).
 *
 * `mpirun -np N pixeldit train ...` runs N ranks; each holds the whole
 * model, trains on its shard of every global batch, and the gradients are
 * summed across ranks before AdamW, so every rank applies the same update.
 * Built without MPI (meson -Dmpi=disabled), or run without a launcher,
 * there is one rank and every call here is the identity.
 */
#ifndef PIXELDIT_DIST_H
#define PIXELDIT_DIST_H

#include <stdbool.h>
#include <stddef.h>

#include "pixeldit/status.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* True when libpixeldit was built with MPI. */
bool pd_dist_built_with_mpi(void);
/* "Open MPI v4.1.4 ..." or "not built with MPI". */
const char *pd_dist_library(void);

/* Joins the MPI job when the process was started by an MPI launcher
 * (mpirun sets OMPI_COMM_WORLD_SIZE / PMIX_RANK / PMI_RANK); otherwise, and
 * without MPI, does nothing (one rank). Call once, first thing in main. */
pd_status pd_dist_init(int *argc, char ***argv);
/* Leaves the job (MPI_Finalize); safe to call when init did nothing. */
void pd_dist_finalize(void);
/* Ends every rank of the job with exit code `code` (MPI_Abort); without a
 * job, exit(code). Print the reason first. */
_Noreturn void pd_dist_abort(int code);
/* The end of main: returns code after MPI_Finalize when code is 0 or every
 * rank knows of the failure (the library agreed on it in a reduction:
 * pd_dist_mark_agreed); otherwise this rank failed alone while others may
 * be waiting for it, and the whole job is ended with MPI_Abort(code). */
int pd_dist_end(int code);
/* Records that the current failure is known to every rank. */
void pd_dist_mark_agreed(void);

int pd_dist_rank(void); /* 0 .. size-1 */
int pd_dist_size(void); /* ranks in the job, 1 without one */

/* In-place sum of buf[n] over all ranks (MPI_Allreduce). Identity for one
 * rank. The time spent inside is added to pd_dist_reduce_seconds. */
pd_status pd_dist_sum_f32(float *buf, size_t n);
/* True on every rank when `flag` is true on any rank. */
bool pd_dist_any(bool flag);
/* Seconds spent in pd_dist_sum_f32 since the process started. */
double pd_dist_reduce_seconds(void);

/* This rank's shard of a global batch of `global` samples:
 * [*first, *first + *count). The first global % size ranks take one sample
 * more than the others; every sample belongs to exactly one rank. */
void pd_dist_shard(int global, int rank, int size, int *first, int *count);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
