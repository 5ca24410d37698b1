/* pixeldit/runtime.h - threads and the BLAS backend.
 *
 * One setting drives both OpenMP (non-GEMM kernels) and OpenBLAS (GEMMs).
 */
#ifndef PIXELDIT_RUNTIME_H
#define PIXELDIT_RUNTIME_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* Threads for OpenMP and OpenBLAS together. n > 0: n threads; n < 0: one
 * per core this process may run on (its CPU affinity); n == 0: the free
 * cores, pd_free_cores(). */
void pd_set_num_threads(int n);
/* The cores this process may run on that other processes are not using
 * now, at least 1: the allowed cores less the other processes' runnable
 * threads (/proc/<pid>/task/<tid>/stat, the least over five looks 10 ms
 * apart), each weighed by its CPU share against ours (1 at our nice or
 * below, 1.25^-k at k nice levels above), so lowest-priority background
 * work does not count. With more threads than free cores every OpenMP
 * barrier waits for a thread that the scheduler has put behind another
 * process, which cost 2-3x more than leaving the busy cores alone
 * (docs/benchmarks.md). About 50 ms. */
int pd_free_cores(void);
int pd_get_num_threads(void);

/* The OpenBLAS kernel in use, e.g. "SkylakeX", "Haswell", "Prescott". */
const char *pd_blas_corename(void);
/* True for a generic pre-AVX kernel, the kind OpenBLAS falls back to on a
 * CPU it does not recognise: Prescott, Core2, Nehalem, Atom, Katmai or
 * Unknown (any case). The one list the pixeldit command and bench_linear
 * use. */
bool pd_blas_core_is_generic(const char *core);
/* The kernel to request with OPENBLAS_CORETYPE: "SkylakeX" (AVX-512 F, BW,
 * VL, DQ) or "Haswell" (AVX2 + FMA) when the kernel in use is generic and
 * the CPU has those features; NULL otherwise. The kernel is chosen when
 * libopenblas loads, so callers set the variable and exec themselves. */
const char *pd_blas_better_core(void);

/* Monotonic wall clock in seconds (for timing; the origin is arbitrary). */
double pd_now_seconds(void);

/* Library version string "MAJOR.MINOR.PATCH". */
const char *pd_version(void);
/* The git revision the library was built from ("unknown" outside git). */
const char *pd_build_commit(void);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
