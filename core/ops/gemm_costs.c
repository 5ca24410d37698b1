/* The GEMM seam's instruments for `pixeldit bench --profile` (gemm.h):
 * the shape log and its replay, the time split into conversion, set-up and
 * products, and the time of each distinct shape. Off unless a profile
 * turns them on; pd_gemm then pays one relaxed atomic load per call. */
#include "gemm.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- shape log ------------------------------------------------------------ */

static pd_gemm_shape *_Atomic log_buf; /* NULL: no log open */
static int log_cap;
static atomic_int log_n;

void pd_gemm_log_open(pd_gemm_shape *log, int cap) {
    log_cap = cap;
    atomic_store(&log_n, 0);
    atomic_store(&log_buf, log);
}

int pd_gemm_log_close(void) {
    atomic_store(&log_buf, NULL);
    return atomic_load(&log_n);
}

static void log_call(pd_gemm_shape *log, const pd_gemm_shape *s) {
    int i = atomic_fetch_add(&log_n, 1);
    if (i >= log_cap) return;
    log[i] = *s;
#ifdef _OPENMP
    log[i].in_parallel = omp_in_parallel();
#endif
}

static int thread_num(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double pd_gemm_replay_seconds(const pd_gemm_shape *log, int n) {
    size_t most = 1;
    for (int i = 0; i < n; i++) {
        size_t a = (size_t)log[i].M * log[i].K, b = (size_t)log[i].K * log[i].N,
               c = (size_t)log[i].M * log[i].N;
        most = a > most ? a : most;
        most = b > most ? b : most;
        most = c > most ? c : most;
    }
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    /* per thread: A, B, C of the largest product, small values */
    float *mem = calloc((size_t)nt * 3 * most, sizeof(float));
    if (!mem) return -1;
    for (size_t i = 0; i < (size_t)nt * 3 * most; i++) mem[i] = (float)(i % 7) * 0.125f - 0.375f;
    double t0 = seconds_now();
    for (int i = 0; i < n;) {
        int j = i + 1; /* a run of in-region calls runs spread over the threads */
        while (log[i].in_parallel && j < n && log[j].in_parallel) j++;
#pragma omp parallel for num_threads(nt) schedule(static) if (log[i].in_parallel && j - i > 1)
        for (int q = i; q < j; q++) {
            const pd_gemm_shape *g = &log[q];
            float *a = mem + (size_t)thread_num() * 3 * most, *b = a + most, *c = b + most;
            pd_gemm(g->prec, g->trans_a, g->trans_b, g->M, g->N, g->K, 1.0f, a,
                    g->trans_a ? g->M : g->K, b, g->trans_b ? g->K : g->N, 0.0f, c, g->N);
        }
        i = j;
    }
    double t = seconds_now() - t0;
    free(mem);
    return t;
}

/* ---- cost counters (bench --profile) -------------------------------------- */

static atomic_bool costs_on;
static atomic_llong costs_ns[PD_GEMM_PARTS], costs_calls;

/* The per-shape table: open addressing on the shape, guarded by a spin
 * lock (only taken while counting). */
static pd_gemm_shape_cost shape_slot[PD_GEMM_SHAPE_SLOTS];
static int shape_used;
static long shape_dropped;
static atomic_flag shape_lock = ATOMIC_FLAG_INIT;

static bool same_shape(const pd_gemm_shape *a, const pd_gemm_shape *b) {
    return a->trans_a == b->trans_a && a->trans_b == b->trans_b && a->in_parallel == b->in_parallel &&
           a->prec == b->prec && a->M == b->M && a->N == b->N && a->K == b->K;
}

static unsigned shape_hash(const pd_gemm_shape *s) {
    unsigned h = 2166136261u;
    int key[7] = {s->trans_a, s->trans_b, s->in_parallel, (int)s->prec, s->M, s->N, s->K};
    for (int i = 0; i < 7; i++) h = (h ^ (unsigned)key[i]) * 16777619u;
    return h;
}

static void shape_add(const pd_gemm_shape *s, double seconds) {
    while (atomic_flag_test_and_set_explicit(&shape_lock, memory_order_acquire)) {}
    unsigned i = shape_hash(s) % PD_GEMM_SHAPE_SLOTS;
    for (int probe = 0; probe < PD_GEMM_SHAPE_SLOTS; probe++, i = (i + 1) % PD_GEMM_SHAPE_SLOTS) {
        pd_gemm_shape_cost *e = &shape_slot[i];
        if (e->calls && !same_shape(&e->shape, s)) continue;
        if (!e->calls) {
            if (shape_used >= PD_GEMM_SHAPE_SLOTS * 3 / 4) break; /* keep probes short */
            e->shape = *s, shape_used++;
        }
        e->calls++, e->seconds += seconds;
        atomic_flag_clear_explicit(&shape_lock, memory_order_release);
        return;
    }
    shape_dropped++;
    atomic_flag_clear_explicit(&shape_lock, memory_order_release);
}

static int by_seconds_desc(const void *a, const void *b) {
    double x = ((const pd_gemm_shape_cost *)a)->seconds, y = ((const pd_gemm_shape_cost *)b)->seconds;
    return (x < y) - (x > y);
}

int pd_gemm_costs_shapes(pd_gemm_shape_cost *out, int cap, long *dropped) {
    static pd_gemm_shape_cost all[PD_GEMM_SHAPE_SLOTS];
    int n = 0;
    while (atomic_flag_test_and_set_explicit(&shape_lock, memory_order_acquire)) {}
    for (int i = 0; i < PD_GEMM_SHAPE_SLOTS; i++)
        if (shape_slot[i].calls) all[n++] = shape_slot[i];
    if (dropped) *dropped = shape_dropped;
    atomic_flag_clear_explicit(&shape_lock, memory_order_release);
    qsort(all, (size_t)n, sizeof all[0], by_seconds_desc);
    n = n < cap ? n : cap;
    memcpy(out, all, (size_t)n * sizeof all[0]);
    return n;
}

void pd_gemm_costs_start(void) {
    while (atomic_flag_test_and_set_explicit(&shape_lock, memory_order_acquire)) {}
    memset(shape_slot, 0, sizeof shape_slot);
    shape_used = 0, shape_dropped = 0;
    atomic_flag_clear_explicit(&shape_lock, memory_order_release);
    for (int i = 0; i < PD_GEMM_PARTS; i++) atomic_store(&costs_ns[i], 0);
    atomic_store(&costs_calls, 0);
    atomic_store(&costs_on, true);
}

void pd_gemm_costs_stop(pd_gemm_costs *out) {
    atomic_store(&costs_on, false);
    for (int i = 0; i < PD_GEMM_PARTS; i++) out->seconds[i] = 1e-9 * (double)atomic_load(&costs_ns[i]);
    out->calls = (long)atomic_load(&costs_calls);
}

double pd_gemm_costs_mark(void) {
    return atomic_load_explicit(&costs_on, memory_order_relaxed) ? seconds_now() : 0;
}

void pd_gemm_costs_add(pd_gemm_part part, double *mark) {
    if (*mark == 0) return;
    double now = seconds_now(), dt = now - *mark;
#ifdef _OPENMP
    if (omp_in_parallel()) dt /= omp_get_num_threads();
#endif
    atomic_fetch_add_explicit(&costs_ns[part], (long long)(dt * 1e9), memory_order_relaxed);
    *mark = now;
}


double pd_gemm_costs_enter(const pd_gemm_shape *s) {
    pd_gemm_shape *log = atomic_load_explicit(&log_buf, memory_order_relaxed);
    if (log) log_call(log, s);
    if (!atomic_load_explicit(&costs_on, memory_order_relaxed)) return 0;
    atomic_fetch_add_explicit(&costs_calls, 1, memory_order_relaxed);
    return seconds_now();
}

void pd_gemm_costs_leave(const pd_gemm_shape *s, double mark) {
    if (mark == 0) return;
    double dt = seconds_now() - mark;
    pd_gemm_shape key = *s;
#ifdef _OPENMP
    key.in_parallel = omp_in_parallel();
    if (key.in_parallel) dt /= omp_get_num_threads();
#endif
    shape_add(&key, dt);
}
