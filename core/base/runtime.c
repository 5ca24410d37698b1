/* Thread count for OpenMP and OpenBLAS together; BLAS kernel name; clock. */
#include <time.h>
#include <unistd.h>

#include "pixeldit/runtime.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* OpenBLAS extensions (declared in its cblas.h, repeated here so this file
 * does not depend on which cblas.h is first on the include path). */
void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

static int g_threads = 0;

void pd_set_num_threads(int n) {
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    g_threads = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    openblas_set_num_threads(n);
}

int pd_get_num_threads(void) {
    if (g_threads <= 0) {
#ifdef _OPENMP
        return omp_get_max_threads();
#else
        return 1;
#endif
    }
    return g_threads;
}

const char *pd_blas_corename(void) {
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

const char *pd_version(void) { return PIXELDIT_VERSION; }

double pd_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
