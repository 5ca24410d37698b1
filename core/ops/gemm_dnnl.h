/* oneDNN behind the GEMM seam (internal; built when oneDNN is found,
 * meson option -Ddnnl). pd_gemm sends PD_PRECISION_BF16 here. */
#ifndef PD_GEMM_DNNL_H
#define PD_GEMM_DNNL_H

#include <stdbool.h>

#include "pixeldit/status.h"

/* C (M, N) = alpha op(A) op(B) + beta C, row-major, as pd_gemm. bf16:
 * op(A) and op(B) rounded to bf16 (ties to even), products accumulated in
 * fp32 by oneDNN's matmul; !bf16: the same path with the fp32 operands
 * passed as they are (how the tests check it on CPUs without bf16). PD_ERR_ARG (message names
 * oneDNN's status) when oneDNN has no implementation for the CPU,
 * PD_ERR_NOMEM when the packed copies cannot be allocated. Safe to call
 * from inside an OpenMP region. */
pd_status pd_gemm_dnnl(bool bf16, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C,
                       int ldc);

/* NULL when a 2x2 product through pd_gemm_dnnl(bf16, ...) runs and is
 * right on this CPU, else why not (thread-local). */
const char *pd_gemm_dnnl_problem(bool bf16);

/* Destroys the cached primitives and the calling thread's stream and
 * buffer (tests; optional). The engine stays for other threads' streams. */
void pd_gemm_dnnl_release(void);

#endif
