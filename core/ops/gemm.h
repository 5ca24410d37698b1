/* Row-major sgemm with the rows of C split across OpenMP threads (internal).
 *
 * Measured on the JiT shapes (rows 4608, K 192..512, 2 cores): OpenBLAS's
 * own 2-thread split of one sgemm reaches 135-150 GFLOP/s, while two
 * single-threaded sgemms on halves of the rows reach 150-165. Each row of C
 * is computed by the same kernel either way, so the split changes no result.
 * See docs/benchmarks.md. */
#ifndef PD_GEMM_H
#define PD_GEMM_H

#include <stdbool.h>

/* True when an sgemm called inside an OpenMP region runs single-threaded
 * (the OpenMP build of OpenBLAS, or OpenBLAS pinned to one thread), so
 * OpenMP threads may each run their own without oversubscribing. */
bool pd_blas_serial_in_parallel(void);

/* C (M, N) = alpha op(A) op(B) + beta C, row-major; op(A) is (M, K), op(B)
 * (K, N). Splits M across threads when that pays, else one cblas_sgemm. */
void pd_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);

#endif
