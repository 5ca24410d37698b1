/* pixeldit/dist.h without MPI (meson -Dmpi=disabled, or no MPI found): one
 * rank, every call the identity. */
#include <stdio.h>
#include <stdlib.h>

#include "pixeldit/dist.h"

bool pd_dist_built_with_mpi(void) { return false; }
const char *pd_dist_library(void) { return "not built with MPI"; }
pd_status pd_dist_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return PD_OK;
}
void pd_dist_finalize(void) {}
_Noreturn void pd_dist_abort(int code) {
    fflush(stdout);
    fflush(stderr);
    exit(code);
}
int pd_dist_end(int code) { return code; }
void pd_dist_mark_agreed(void) {}
int pd_dist_rank(void) { return 0; }
int pd_dist_size(void) { return 1; }
pd_status pd_dist_sum_f32(float *buf, size_t n) {
    (void)buf, (void)n;
    return PD_OK;
}
bool pd_dist_any(bool flag) { return flag; }
double pd_dist_reduce_seconds(void) { return 0; }
