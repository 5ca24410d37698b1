/* pixeldit/runtime.h - threads and the BLAS backend.
 *
 * One setting drives both OpenMP (non-GEMM kernels) and OpenBLAS (GEMMs).
 */
#ifndef PIXELDIT_RUNTIME_H
#define PIXELDIT_RUNTIME_H

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* n <= 0: all online cores. */
void pd_set_num_threads(int n);
int pd_get_num_threads(void);

/* The OpenBLAS kernel in use, e.g. "SkylakeX", "Haswell", "Prescott". */
const char *pd_blas_corename(void);

/* Monotonic wall clock in seconds (for timing; the origin is arbitrary). */
double pd_now_seconds(void);

/* Library version string "MAJOR.MINOR.PATCH". */
const char *pd_version(void);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
