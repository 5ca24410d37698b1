/* Thread count for OpenMP and OpenBLAS together; BLAS kernel name and
 * choice; clock. */
#include <sched.h>
#include <strings.h>
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
        /* the cores this process may run on: mpirun binds each rank to its
         * own (so does taskset), and more threads than those only wait */
        cpu_set_t set;
        long c = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                            : sysconf(_SC_NPROCESSORS_ONLN);
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

bool pd_blas_core_is_generic(const char *core) {
    /* OpenBLAS's x86 fallbacks for unknown models (Prescott on x86-64,
     * Katmai on 32-bit) and the older kernels it may match an unknown
     * family to: all pre-AVX, several times slower than Haswell/SkylakeX
     * where the CPU can run those. */
    static const char *const generic[] = {"Prescott", "Core2", "Nehalem", "Atom", "Katmai",
                                          "Unknown"};
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
        if (core && !strcasecmp(core, generic[i])) return true;
    return false;
}

const char *pd_blas_better_core(void) {
    if (!pd_blas_core_is_generic(pd_blas_corename())) return NULL;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

const char *pd_version(void) { return PIXELDIT_VERSION; }

double pd_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
