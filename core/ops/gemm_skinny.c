/* Row-major C (M, N) = alpha A (M, K) op(B) + beta C for a short, narrow
 * op(B) (K, N <= 64) and many rows: the per-pixel layers of the pixel
 * decoders, a Linear(16..64 -> 16..64) over B*H*W rows (DeCo's 32 -> 32,
 * PixelDiT's 16 -> 64 -> 16), forward (B = W^T) and input gradient
 * (B = W). OpenBLAS runs those at 35-50 GFLOP/s on 2 cores (bench_linear
 * --pixel): its packing and blocking are sized for large K and N. Here
 * op(B) is packed once (at most 64 x 64 floats, in L1) with N padded to a
 * multiple of 16, and each block of 4 rows keeps its 4 x NP accumulators
 * in vector registers: a loop GCC vectorises for whatever the build
 * targets (AVX-512, AVX2). Rows are split over the threads; each C entry
 * sums its K products in order, so the result does not depend on the
 * thread count. */
#include "gemm.h"

#include <omp.h>

#define SKINNY_ROWS 4 /* rows per block: 4 x 64 accumulators fit the registers */
#define SKINNY_MIN_ROWS 1024

bool pd_gemm_skinny_fits(bool ta, int M, int N, int K) {
    return !ta && M >= SKINNY_MIN_ROWS && N > 16 && N <= PD_GEMM_SKINNY_MAX && K >= 1 &&
           K <= PD_GEMM_SKINNY_MAX;
}

/* skinny_rows_NP: rows [m0, m1) of C with NP (32, 48 or 64) padded
 * columns, R rows per block. One function per width, with the accumulator
 * array's size fixed in it, is what lets GCC keep the accumulators in
 * registers (a shared [8][64] array with a width argument did not). */
#define SKINNY_ROWS_FN(NP, R)                                                                \
    static void skinny_rows_##NP(int m0, int m1, int N, int K, float alpha, const float *A,   \
                                 int lda, const float *Bp, float beta, float *C, int ldc) {   \
        for (int m = m0; m < m1; m += R) {                                                    \
            int rows = m1 - m < R ? m1 - m : R;                                               \
            const float *a = A + (size_t)m * lda;                                             \
            float acc[R][NP];                                                                 \
            for (int i = 0; i < R; i++)                                                       \
                for (int n = 0; n < NP; n++) acc[i][n] = 0.0f;                                \
            if (rows == R) {                                                                  \
                for (int k = 0; k < K; k++)                                                   \
                    for (int i = 0; i < R; i++) {                                             \
                        float av = a[(size_t)i * lda + k];                                    \
                        for (int n = 0; n < NP; n++) acc[i][n] += av * Bp[k * NP + n];        \
                    }                                                                         \
            } else { /* the last, partial block */                                            \
                for (int k = 0; k < K; k++)                                                   \
                    for (int i = 0; i < rows; i++) {                                          \
                        float av = a[(size_t)i * lda + k];                                    \
                        for (int n = 0; n < NP; n++) acc[i][n] += av * Bp[k * NP + n];        \
                    }                                                                         \
            }                                                                                 \
            for (int i = 0; i < rows; i++) {                                                  \
                float *c = C + (size_t)(m + i) * ldc;                                         \
                if (beta == 0.0f) /* C is not read: it may hold anything, NaN included */     \
                    for (int n = 0; n < N; n++) c[n] = alpha * acc[i][n];                     \
                else                                                                          \
                    for (int n = 0; n < N; n++) c[n] = alpha * acc[i][n] + beta * c[n];       \
            }                                                                                 \
        }                                                                                     \
    }
SKINNY_ROWS_FN(32, 4)
SKINNY_ROWS_FN(48, 4)
SKINNY_ROWS_FN(64, 4)

void pd_gemm_skinny(bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
    int NP = (N + 15) / 16 * 16;
    float Bp[PD_GEMM_SKINNY_MAX * PD_GEMM_SKINNY_MAX] __attribute__((aligned(64)));
    for (int k = 0; k < K; k++)
        for (int n = 0; n < NP; n++)
            Bp[k * NP + n] = n >= N ? 0.0f : tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    int blocks = (M + SKINNY_ROWS - 1) / SKINNY_ROWS; /* thread boundaries on whole blocks */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int T = omp_get_num_threads(), t = omp_get_thread_num();
        int m0 = (int)((long)blocks * t / T) * SKINNY_ROWS;
        int m1 = (int)((long)blocks * (t + 1) / T) * SKINNY_ROWS;
        if (m1 > M) m1 = M;
        switch (NP) { /* the width as a constant, so the accumulators stay in registers */
        case 32: skinny_rows_32(m0, m1, N, K, alpha, A, lda, Bp, beta, C, ldc); break;
        case 48: skinny_rows_48(m0, m1, N, K, alpha, A, lda, Bp, beta, C, ldc); break;
        default: skinny_rows_64(m0, m1, N, K, alpha, A, lda, Bp, beta, C, ldc); break;
        }
    }
}
