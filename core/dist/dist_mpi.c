/* The MPI side of pixeldit/dist.h: one MPI_COMM_WORLD job, joined only when
 * a launcher started this process. MPI is called from the main thread only
 * (OpenMP threads never reach it): MPI_THREAD_FUNNELED. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pixeldit/dist.h"
#include "pixeldit/runtime.h"

static int g_rank = 0, g_size = 1;
static bool g_joined;
static double g_reduce_s;

bool pd_dist_built_with_mpi(void) { return true; }

const char *pd_dist_library(void) {
    static char buf[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (!buf[0] && MPI_Get_library_version(buf, &len) == MPI_SUCCESS)
        buf[strcspn(buf, ",\n")] = '\0'; /* "Open MPI v4.1.4" */
    return buf;
}

/* Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx and PMI launchers
 * (srun, hydra) set the others. A plain `pixeldit train` stays a
 * non-MPI process: no MPI_Init, no daemon, nothing changes. */
static bool launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

pd_status pd_dist_init(int *argc, char ***argv) {
    if (g_joined || !launched()) return PD_OK;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return pd_fail(PD_ERR_IO, "MPI_Init_thread failed");
    g_joined = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    return PD_OK;
}

void pd_dist_finalize(void) {
    if (!g_joined) return;
    MPI_Finalize();
    g_joined = false;
}

_Noreturn void pd_dist_abort(int code) {
    fflush(stdout);
    fflush(stderr);
    if (g_joined) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

static bool g_agreed;
void pd_dist_mark_agreed(void) { g_agreed = true; }

int pd_dist_end(int code) {
    if (code != 0 && g_size > 1 && !g_agreed) {
        /* When every rank fails alike (a config error), rank 0's abort ends
         * the others while they wait here: one abort report, not N. */
        if (g_rank > 0) sleep(2);
        pd_dist_abort(code);
    }
    pd_dist_finalize();
    return code;
}

int pd_dist_rank(void) { return g_rank; }
int pd_dist_size(void) { return g_size; }

pd_status pd_dist_sum_f32(float *buf, size_t n) {
    if (g_size == 1) return PD_OK;
    double t0 = pd_now_seconds();
    /* MPI counts are int: large buffers go in pieces */
    for (size_t off = 0; off < n;) {
        int count = n - off > INT_MAX / 2 ? INT_MAX / 2 : (int)(n - off);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + off, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return pd_fail(PD_ERR_IO, "MPI_Allreduce of %d floats failed (error %d)", count, rc);
        off += (size_t)count;
    }
    g_reduce_s += pd_now_seconds() - t0;
    return PD_OK;
}

bool pd_dist_any(bool flag) {
    if (g_size == 1) return flag;
    int in = flag, out = 0;
    MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    return out != 0;
}

double pd_dist_reduce_seconds(void) { return g_reduce_s; }
