/* Thread count for OpenMP and OpenBLAS together; BLAS kernel name and
 * choice; clock. */
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
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

/* The cores this process may run on: mpirun binds each rank to its own
 * (so does taskset), and more threads than those only wait. */
static int allowed_cores(void) {
    cpu_set_t set;
    long c = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                        : sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}

/* Runnable tasks on the machine now (/proc/stat procs_running), -1 when
 * unknown. */
static int procs_running(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "procs_running %d", &n) == 1) break;
    fclose(f);
    return n;
}

/* This process's runnable threads now (the caller, and OpenMP workers
 * that spin), from the state field of /proc/self/task/ * /stat. */
static int own_running(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return 1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        const char *paren = strrchr(buf, ')'); /* the name may hold spaces and ')' */
        if (paren && paren[1] == ' ' && paren[2] == 'R') n++;
    }
    closedir(d);
    return n > 0 ? n : 1;
}

int pd_free_cores(void) {
    int allowed = allowed_cores();
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < allowed) online = allowed;
    /* the fewest other runnable tasks over five looks 10 ms apart: a
     * process that keeps a core busy is seen every time, a short command
     * or a waking daemon rarely */
    int others = -1;
    for (int i = 0; i < 5; i++) {
        if (i) nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
        int all = procs_running();
        if (all < 0) return allowed;
        int o = all - own_running();
        if (o < 0) o = 0;
        if (others < 0 || o < others) others = o;
    }
    long free_cores = online - others;
    if (free_cores > allowed) free_cores = allowed;
    return free_cores > 0 ? (int)free_cores : 1;
}

void pd_set_num_threads(int n) {
    if (n == 0) n = pd_free_cores();
    if (n < 0) n = allowed_cores();
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
