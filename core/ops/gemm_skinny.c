/* Row-major C (M, N) = alpha A (M, K) op(B) + beta C for a short, narrow
 * op(B) (K, N <= 64) and many rows: the per-pixel layers of the pixel
 * decoders, a Linear(16..64 -> 16..64) over B*H*W rows (DeCo's 32 -> 32,
 * PixelDiT's 16 -> 64 -> 16), forward (B = W^T) and input gradient
 * (B = W). OpenBLAS runs those at 35-50 GFLOP/s on 2 cores (bench_linear
 * --pixel): its packing and blocking are sized for large K and N. Here
 * op(B) is packed once (at most 64 x 64 floats, in L1) with N padded to a
 * multiple of 16, and each block of R rows (6-12 by width) keeps its
 * R x NP accumulators in vector registers, written with GCC's vector
 * extensions so that any target (AVX-512, AVX2) gets whole-register
 * FMAs. Rows are split over the threads; each C entry
 * sums its K products in order, so the result does not depend on the
 * thread count. */
#include "gemm.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define SKINNY_MIN_ROWS 1024

bool pd_gemm_skinny_fits(bool ta, int M, int N, int K) {
    return !ta && M >= SKINNY_MIN_ROWS && N > 16 && N <= PD_GEMM_SKINNY_MAX && K >= 1 &&
           K <= PD_GEMM_SKINNY_MAX;
}

/* GCC vector extensions: 16 floats, loaded from any float address. */
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));

/* Rows [m0, m1) of C with R rows of C at a time: R x NP/16 vector
 * accumulators (fully unrolled, so they stay in registers; this file is
 * built with -ffp-contract=fast, so each update is one FMA): per k, NP/16
 * loads of the packed row of op(B) and R broadcasts of A feed R NP/16 FMAs.
 * A last block of fewer than R rows goes one row at a time. */
static inline void skinny_store(float *c, const v16 *acc, int N, float alpha, float beta,
                                const float *bias) {
    float t[PD_GEMM_SKINNY_MAX] __attribute__((aligned(64)));
    memcpy(t, acc, sizeof(float) * ((N + 15) / 16 * 16));
    if (bias) /* the linear layer's bias, added in the same pass (pd_gemm_bias) */
        for (int n = 0; n < N; n++) c[n] = alpha * t[n] + bias[n];
    else if (beta == 0.0f) /* C is not read: it may hold anything, NaN included */
        for (int n = 0; n < N; n++) c[n] = alpha * t[n];
    else
        for (int n = 0; n < N; n++) c[n] = alpha * t[n] + beta * c[n];
}

#define SKINNY_ROWS_FN(NP, R)                                                                 \
    static void skinny_rows_##NP(int m0, int m1, int N, int K, float alpha, const float *A,    \
                                 int lda, const float *Bp, float beta, const float *bias,     \
                                 float *C, int ldc) {                                          \
        enum { NV = NP / 16 };                                                                 \
        int m = m0;                                                                            \
        for (; m + R <= m1; m += R) {                                                          \
            const float *a = A + (size_t)m * lda;                                              \
            v16 acc[R][NV];                                                                    \
            for (int i = 0; i < R; i++)                                                        \
                for (int j = 0; j < NV; j++) acc[i][j] = (v16){0};                             \
            for (int k = 0; k < K; k++) {                                                      \
                v16 bv[NV];                                                                    \
                _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                           \
                    bv[j] = *(const v16 *)(Bp + (size_t)k * NP + 16 * j);                      \
                _Pragma("GCC unroll 16") for (int i = 0; i < R; i++)                           \
                    _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                       \
                        acc[i][j] += a[(size_t)i * lda + k] * bv[j];                           \
            }                                                                                  \
            for (int i = 0; i < R; i++)                                                        \
                skinny_store(C + (size_t)(m + i) * ldc, acc[i], N, alpha, beta, bias);         \
        }                                                                                      \
        for (; m < m1; m++) { /* rows past the last whole block */                             \
            const float *a = A + (size_t)m * lda;                                              \
            v16 acc[NV];                                                                       \
            for (int j = 0; j < NV; j++) acc[j] = (v16){0};                                    \
            for (int k = 0; k < K; k++)                                                        \
                for (int j = 0; j < NV; j++) acc[j] += a[k] * *(const v16 *)(Bp + (size_t)k * NP + 16 * j); \
            skinny_store(C + (size_t)m * ldc, acc, N, alpha, beta, bias);                      \
        }                                                                                      \
    }
SKINNY_ROWS_FN(32, 6)
SKINNY_ROWS_FN(48, 8)
SKINNY_ROWS_FN(64, 6)

/* Rows of C per block for a padded width: the tile heights above. */
static int skinny_block_rows(int NP) { return NP == 32 ? 6 : NP == 48 ? 8 : 6; }

void pd_gemm_skinny(bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, const float *bias, float *C, int ldc) {
    int NP = (N + 15) / 16 * 16, R = skinny_block_rows(NP);
    float Bp[PD_GEMM_SKINNY_MAX * PD_GEMM_SKINNY_MAX] __attribute__((aligned(64)));
    for (int k = 0; k < K; k++)
        for (int n = 0; n < NP; n++)
            Bp[k * NP + n] = n >= N ? 0.0f : tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    int blocks = (M + R - 1) / R; /* thread boundaries on whole blocks */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int T = omp_get_num_threads(), t = omp_get_thread_num();
        int m0 = (int)((long)blocks * t / T) * R;
        int m1 = (int)((long)blocks * (t + 1) / T) * R;
        if (m1 > M) m1 = M;
        switch (NP) { /* the width as a constant, so the accumulators stay in registers */
        case 32: skinny_rows_32(m0, m1, N, K, alpha, A, lda, Bp, beta, bias, C, ldc); break;
        case 48: skinny_rows_48(m0, m1, N, K, alpha, A, lda, Bp, beta, bias, C, ldc); break;
        default: skinny_rows_64(m0, m1, N, K, alpha, A, lda, Bp, beta, bias, C, ldc); break;
        }
    }
}

/* ---- weight gradients: C (M, N) = alpha A^T B + beta C over many rows ----
 * A stored (K, M), B stored (K, N), K the B*H*W rows of a per-pixel layer:
 * dW (out, in) = dY^T X. OpenBLAS splits M and N, 16-64 here, and reaches
 * 45-60 GFLOP/s on 2 cores; its calls on K chunks summed (gemm.c) 105-130.
 * Here K is cut into fixed chunks of WGRAD_CHUNK rows (A's and B's rows of
 * a chunk stay in L2 while every tile of C passes over them), each chunk's
 * product goes to its own partial, and the partials are summed in chunk
 * order: the result does not depend on the thread count. A tile of C is
 * R rows by NP columns of accumulators in registers: per row k of the
 * chunk, R broadcasts of A's row and NP / 16 vector loads of B's. */
#define WGRAD_CHUNK 1024
#define WGRAD_MIN_K 8192

bool pd_gemm_skinny_wgrad_fits(bool ta, bool tb, int M, int N, int K) {
    return ta && !tb && M >= 1 && M <= PD_GEMM_SKINNY_MAX && N >= 16 && N <= PD_GEMM_SKINNY_MAX &&
           N % 16 == 0 && K >= WGRAD_MIN_K;
}


/* wgrad_tile_NP: P (M, NP) = A[k0:k1]^T B[k0:k1] for one chunk, in tiles
 * of R rows by 16 NB columns of vector accumulators (fully unrolled, so they
 * stay in registers; this file is built with -ffp-contract=fast, so each
 * update is one FMA): per row k, NB vector loads of B and R broadcasts of
 * A feed R NB FMAs. One function per width, as above. */
#define WGRAD_TILE_FN(NP, R, NB)                                                              \
    static void wgrad_tile_##NP(int M, int k0, int k1, const float *A, int lda, const float *B, \
                                int ldb, float *P) {                                          \
        int m = 0;                                                                            \
        for (; m + R <= M; m += R)                                                            \
            for (int n0 = 0; n0 < NP; n0 += 16 * NB) {                                        \
                v16 acc[R][NB];                                                               \
                for (int i = 0; i < R; i++)                                                   \
                    for (int j = 0; j < NB; j++) acc[i][j] = (v16){0};                        \
                for (int k = k0; k < k1; k++) {                                               \
                    const float *a = A + (size_t)k * lda + m, *b = B + (size_t)k * ldb + n0;  \
                    v16 bv[NB];                                                               \
                    _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++)                      \
                        bv[j] = *(const v16u *)(b + 16 * j);                                  \
                    _Pragma("GCC unroll 16") for (int i = 0; i < R; i++)                      \
                        _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++)                  \
                            acc[i][j] += a[i] * bv[j];                                        \
                }                                                                             \
                for (int i = 0; i < R; i++)                                                   \
                    for (int j = 0; j < NB; j++)                                              \
                        *(v16u *)(P + (size_t)(m + i) * NP + n0 + 16 * j) = acc[i][j];         \
            }                                                                                 \
        for (; m < M; m++) { /* rows past the last whole tile */                              \
            v16 acc[NP / 16];                                                                 \
            for (int j = 0; j < NP / 16; j++) acc[j] = (v16){0};                              \
            for (int k = k0; k < k1; k++) {                                                   \
                const float *b = B + (size_t)k * ldb;                                         \
                float av = A[(size_t)k * lda + m];                                            \
                for (int j = 0; j < NP / 16; j++) acc[j] += av * *(const v16u *)(b + 16 * j); \
            }                                                                                 \
            for (int j = 0; j < NP / 16; j++) *(v16u *)(P + (size_t)m * NP + 16 * j) = acc[j]; \
        }                                                                                     \
    }
WGRAD_TILE_FN(16, 16, 1)
WGRAD_TILE_FN(32, 8, 2)
WGRAD_TILE_FN(48, 8, 3)
WGRAD_TILE_FN(64, 8, 2)

bool pd_gemm_skinny_wgrad(int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
    int nc = (K + WGRAD_CHUNK - 1) / WGRAD_CHUNK;
    size_t mn = (size_t)M * N;
    float *part = malloc((size_t)nc * mn * sizeof(float));
    if (!part) return false;
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int c = 0; c < nc; c++) {
        int k0 = c * WGRAD_CHUNK, k1 = k0 + WGRAD_CHUNK < K ? k0 + WGRAD_CHUNK : K;
        float *P = part + (size_t)c * mn;
        switch (N) {
        case 16: wgrad_tile_16(M, k0, k1, A, lda, B, ldb, P); break;
        case 32: wgrad_tile_32(M, k0, k1, A, lda, B, ldb, P); break;
        case 48: wgrad_tile_48(M, k0, k1, A, lda, B, ldb, P); break;
        default: wgrad_tile_64(M, k0, k1, A, lda, B, ldb, P); break;
        }
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && mn >= 1024)
    for (int m = 0; m < M; m++) {
        float *crow = C + (size_t)m * ldc;
        for (int n = 0; n < N; n++) {
            float s = 0.0f;
            for (int c = 0; c < nc; c++) s += part[(size_t)c * mn + (size_t)m * N + n];
            crow[n] = beta == 0.0f ? alpha * s : alpha * s + beta * crow[n]; /* beta 0: C unread */
        }
    }
    free(part);
    return true;
}
