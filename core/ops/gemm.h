/* The one GEMM seam (internal): every matrix product of the ops (linear,
 * matmul, conv, sdpa) calls pd_gemm with the context's precision, so the
 * library behind it can change without touching the ops.
 *
 * FP32 is row-major OpenBLAS sgemm with the rows of C split across OpenMP
 * threads when that pays. Measured on the JiT shapes (rows 4608, K
 * 192..512, 2 cores): OpenBLAS's own 2-thread split of one sgemm reaches
 * 135-150 GFLOP/s, while two single-threaded sgemms on halves of the rows
 * reach 150-165. The split moves results in the last bits (OpenBLAS
 * 0.3.21 blocks by the shape it is given: halves of 4096 x 192 x 192 differ
 * from one call, and so does OpenBLAS's own split on 1 and 2 threads), so
 * products are reproducible for a fixed thread count, not across counts;
 * tests compare within 1e-6. See docs/benchmarks-log.md, which also has
 * the measurements (OpenBLAS against oneDNN and libxsmm) behind keeping
 * OpenBLAS for fp32. */
#ifndef PD_GEMM_H
#define PD_GEMM_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "pixeldit/tensor.h"

/* True when an sgemm called inside an OpenMP region runs single-threaded
 * (the OpenMP build of OpenBLAS, or OpenBLAS pinned to one thread), so
 * OpenMP threads may each run their own without oversubscribing. */
bool pd_blas_serial_in_parallel(void);

/* C (M, N) = alpha op(A) op(B) + beta C, row-major; op(A) is (M, K), op(B)
 * (K, N); C and the accumulation are fp32 at every precision. FP32: one
 * sgemm, or row blocks on threads. BF16_EMULATED: A and B rounded to bf16
 * into temporary copies, then the FP32 path. PD_ERR_NOMEM when those
 * copies cannot be allocated (thread-local message); PD_ERR_ARG for a
 * precision with no backend (pd_ctx_set_precision never sets one). Safe
 * to call from inside an OpenMP region. */
pd_status pd_gemm(pd_precision prec, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* C (M, N) = A op(B) + bias, bias (N) added to every row: a linear
 * layer's forward. Where the skinny kernel runs (fp32), the bias is added
 * as C is stored; elsewhere C's rows are filled with the bias (on the
 * threads) and the product accumulates onto them. Same statuses as
 * pd_gemm. */
pd_status pd_gemm_bias(pd_precision prec, bool trans_b, int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, const float *bias, float *C, int ldc);

/* The fp32 kernel pd_gemm uses for a short, narrow op(B) over many rows
 * (gemm_skinny.c): !trans_a, M >= 1024, 16 < N <= PD_GEMM_SKINNY_MAX,
 * 1 <= K <= PD_GEMM_SKINNY_MAX (at N <= 16 it was slower than OpenBLAS).
 * Internal; exposed for its tests and bench_linear. */
#define PD_GEMM_SKINNY_MAX 64
bool pd_gemm_skinny_fits(bool trans_a, int M, int N, int K);
/* bias (N) or NULL: C = alpha A op(B) + bias, beta unused, when given. */
void pd_gemm_skinny(bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, const float *bias, float *C, int ldc);

/* The fp32 kernel for the weight gradients of per-pixel layers,
 * dW (M, N) = dY^T X over K >= 8192 rows (gemm_skinny.c): trans_a, not
 * trans_b, M <= 64, N in {16, 32, 48, 64}. False (nothing written) when
 * its chunk partials cannot be allocated; the caller then runs the
 * general path. Internal; exposed for its tests and bench_linear. */
bool pd_gemm_skinny_wgrad_fits(bool trans_a, bool trans_b, int M, int N, int K);
bool pd_gemm_skinny_wgrad(int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc);

/* Sends FP32 products through oneDNN's matmul (the bf16 backend's code
 * with fp32 operands) instead of OpenBLAS, process-wide, for `pixeldit
 * bench --fp32-gemm onednn`: it measures what that backend's packing and
 * per-call set-up cost at the model's shapes. PD_ERR_ARG without oneDNN. */
pd_status pd_gemm_set_fp32_onednn(bool on);

/* The shape log behind `pixeldit bench --profile`'s GEMM-only time: while
 * a log is open, every pd_gemm call appends its shape (thread-safe; calls
 * past `cap` are counted, not kept). */
typedef struct pd_gemm_shape {
    bool trans_a, trans_b;
    bool in_parallel;   /* called inside an OpenMP region (attention's heads) */
    pd_precision prec;
    int M, N, K;
} pd_gemm_shape;
void pd_gemm_log_open(pd_gemm_shape *log, int cap);
/* Closes the log; returns the number of calls seen (may exceed cap). */
int pd_gemm_log_close(void);
/* Seconds to run the n logged products alone on scratch operands, as they
 * ran: calls made outside OpenMP regions one after another through
 * pd_gemm, the ones made inside a region spread over the threads. */
double pd_gemm_replay_seconds(const pd_gemm_shape *log, int n);

/* Where the time of pd_gemm goes, for `pixeldit bench --profile`: while
 * counting is on, every call adds its wall time to one of three parts.
 * A call made inside an OpenMP region (attention's heads) adds its time
 * divided by the team's size, so that concurrent calls sum to about the
 * wall time they took together. */
typedef enum pd_gemm_part {
    PD_GEMM_CONVERT, /* rounding operands to bf16, or copying them for oneDNN */
    PD_GEMM_SETUP,   /* oneDNN: primitive look-up, memory objects, stream */
    PD_GEMM_COMPUTE, /* the product itself: sgemm or oneDNN's execute */
    PD_GEMM_PARTS
} pd_gemm_part;
typedef struct pd_gemm_costs {
    double seconds[PD_GEMM_PARTS];
    long calls;
} pd_gemm_costs;
void pd_gemm_costs_start(void);
/* Stops counting; *out gets the sums since pd_gemm_costs_start. */
void pd_gemm_costs_stop(pd_gemm_costs *out);
/* A timestamp when counting is on, else 0 (costs nothing more). */
double pd_gemm_costs_mark(void);
/* The time of each distinct shape (and precision, and whether it ran
 * inside an OpenMP region) since pd_gemm_costs_start, as `bench --profile`
 * prints it: fills out[0 .. n) longest first, returns n <= cap. Shapes
 * past the table's size (PD_GEMM_SHAPE_SLOTS) are counted in the totals
 * only; *dropped (may be NULL) gets their calls. */
#define PD_GEMM_SHAPE_SLOTS 512
typedef struct pd_gemm_shape_cost {
    pd_gemm_shape shape;
    long calls;
    double seconds; /* in-region calls: divided by the team's size, as above */
} pd_gemm_shape_cost;
int pd_gemm_costs_shapes(pd_gemm_shape_cost *out, int cap, long *dropped);
/* pd_gemm's bracket around every call: enter logs the shape and counts the
 * call, returning a timestamp when counting is on (else 0); leave adds the
 * call's time to its shape. */
double pd_gemm_costs_enter(const pd_gemm_shape *s);
void pd_gemm_costs_leave(const pd_gemm_shape *s, double mark);
/* Adds now - *mark to `part` and moves *mark to now (no-op while *mark is 0). */
void pd_gemm_costs_add(pd_gemm_part part, double *mark);

/* x rounded to the nearest bf16 (ties to even), returned as the float it
 * stands for; NaN stays NaN, overflow rounds to infinity as in hardware. */
static inline float pd_bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        u = (u | 0x00400000u) & 0xffff0000u; /* quiet NaN, payload top bits kept */
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
        u &= 0xffff0000u;
    }
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The CPU features a native bf16 GEMM can use (cpuid; AVX-512 state also
 * enabled by the OS). */
bool pd_cpu_has_avx512_bf16(void);
bool pd_cpu_has_amx_bf16(void);

#endif
