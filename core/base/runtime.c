/* Thread count for OpenMP and OpenBLAS together; BLAS kernel name and
 * choice; clock. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
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

/* Reads state and nice of /proc/.../stat at `path`: the fields after the
 * command name's closing parenthesis are state (1st) and nice (17th). */
static bool task_state(const char *path, char *state, int *nice) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char buf[1024];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces and ')' */
    if (!p || p[1] != ' ') return false;
    *state = p[2];
    p += 2;
    for (int field = 0; field < 16 && p; field++) p = strchr(p + 1, ' ');
    return p && sscanf(p, "%d", nice) == 1;
}

/* The load other processes put on the cores now, in cores: each runnable
 * task of another process counts by its CPU weight relative to ours (the
 * scheduler's weights fall about 1.25x per nice level), at most 1, so a
 * nice-19 loop barely counts against a nice-0 run and an equal one counts
 * fully. -1 when /proc cannot be read. */
static double others_load(int self, int my_nice) {
    DIR *procs = opendir("/proc");
    if (!procs) return -1;
    double load = 0;
    struct dirent *pe;
    while ((pe = readdir(procs))) {
        if (pe->d_name[0] < '1' || pe->d_name[0] > '9' || atoi(pe->d_name) == self) continue;
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%.20s/task", pe->d_name);
        DIR *tasks = opendir(dir);
        if (!tasks) continue;
        struct dirent *te;
        while ((te = readdir(tasks))) {
            if (te->d_name[0] == '.') continue;
            char path[128], state;
            int nice;
            snprintf(path, sizeof path, "%s/%.20s/stat", dir, te->d_name);
            if (!task_state(path, &state, &nice) || state != 'R') continue;
            load += nice <= my_nice ? 1.0 : pow(1.25, my_nice - nice);
        }
        closedir(tasks);
    }
    closedir(procs);
    return load;
}

int pd_free_cores(void) {
    int allowed = allowed_cores();
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < allowed) online = allowed;
    char state;
    int my_nice = 0;
    if (!task_state("/proc/self/stat", &state, &my_nice)) my_nice = 0;
    /* the least load over five looks 10 ms apart: a process that keeps a
     * core busy is seen every time, a short command or a waking daemon
     * rarely */
    double others = -1;
    for (int i = 0; i < 5; i++) {
        if (i) nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
        double o = others_load((int)getpid(), my_nice);
        if (o < 0) return allowed;
        if (others < 0 || o < others) others = o;
    }
    long free_cores = online - (long)(others + 0.5);
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
