/* pd_gemm: see gemm.h. Measured A/B of the row split (alternating runs,
 * bench-s, Haswell): training step 0.550 s split vs 0.592 s one call,
 * forward 0.178 vs 0.194 s; JiT-B/16 (rows 1152) is unchanged within
 * noise. */
#include "gemm.h"
#ifdef PD_HAVE_DNNL
#include "gemm_dnnl.h"
#endif

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#define GEMM_SPLIT_MIN_ROWS 128    /* per thread */
#define GEMM_SPLIT_MIN_FLOPS 8e6   /* below this one call is cheaper */
#define GEMM_ROW_ALIGN 16          /* keep blocks on the kernels' row tiles */

bool pd_blas_serial_in_parallel(void) {
#ifdef _OPENMP
    return openblas_get_parallel() == 2 || openblas_get_num_threads() == 1;
#else
    return false;
#endif
}

static int split_threads(int M, int N, int K) {
#ifdef _OPENMP
    if (omp_in_parallel() || !pd_blas_serial_in_parallel()) return 1;
    int nt = omp_get_max_threads();
    if (nt < 2 || 2.0 * M * N * K < GEMM_SPLIT_MIN_FLOPS) return 1;
    int by_rows = M / GEMM_SPLIT_MIN_ROWS;
    return by_rows < nt ? (by_rows < 1 ? 1 : by_rows) : nt;
#else
    (void)M, (void)N, (void)K;
    return 1;
#endif
}

static void gemm_one(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Chunks of the inner dimension for a product too short for a row split
 * and long in K: the weight gradients of per-pixel layers, dW (out, in) =
 * dY^T X over B*H*W rows. OpenBLAS runs those at 45-60 GFLOP/s on 2 cores
 * (it splits M and N, which are 16-64 here); summing partial products of
 * K chunks on the threads runs them at 105-130 (bench_linear --pixel).
 * The chunking depends on the shape alone, and the partials are added in
 * chunk order. 0: no split. */
#define GEMM_KSPLIT_MIN_K 16384
#define GEMM_KSPLIT_CHUNK 4096
#define GEMM_KSPLIT_MAX_CHUNKS 32
#define GEMM_KSPLIT_MAX_MN 65536 /* floats of one partial */

static int k_chunks(int M, int N, int K) {
#ifdef _OPENMP
    if (omp_in_parallel() || !pd_blas_serial_in_parallel() || omp_get_max_threads() < 2) return 0;
#endif
    if (K < GEMM_KSPLIT_MIN_K || (size_t)M * N > GEMM_KSPLIT_MAX_MN) return 0;
    int nc = K / GEMM_KSPLIT_CHUNK;
    return nc > GEMM_KSPLIT_MAX_CHUNKS ? GEMM_KSPLIT_MAX_CHUNKS : nc;
}

/* C = alpha op(A) op(B) + beta C as nc partial products over K chunks;
 * false when the partials cannot be allocated (the caller runs one call). */
static bool gemm_ksplit(int nc, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    size_t mn = (size_t)M * N;
    float *part = malloc((size_t)nc * mn * sizeof(float));
    if (!part) return false;
    int chunk = (K + nc - 1) / nc;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < nc; c++) {
        int k0 = c * chunk, k1 = k0 + chunk < K ? k0 + chunk : K;
        /* column k0 of op(A): A + k0 (stored M x K) or row k0 (stored K x M) */
        const float *a = ta ? A + (size_t)k0 * lda : A + k0;
        const float *b = tb ? B + k0 : B + (size_t)k0 * ldb;
        if (k1 > k0) gemm_one(ta, tb, M, N, k1 - k0, alpha, a, lda, b, ldb, 0.0f, part + c * mn, N);
        else memset(part + c * mn, 0, mn * sizeof(float));
    }
#pragma omp parallel for schedule(static) if (mn > 4096)
    for (int m = 0; m < M; m++) {
        float *crow = C + (size_t)m * ldc;
        for (int n = 0; n < N; n++) {
            float s = beta == 0.0f ? 0.0f : beta * crow[n]; /* beta 0 never reads C */
            for (int c = 0; c < nc; c++) s += part[c * mn + (size_t)m * N + n];
            crow[n] = s;
        }
    }
    free(part);
    return true;
}

static void gemm_fp32(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc) {
    int nt = split_threads(M, N, K);
    int nc = nt == 1 ? k_chunks(M, N, K) : 0;
    if (nc > 1 && gemm_ksplit(nc, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
    if (nt == 1) {
        gemm_one(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* contiguous row blocks; rows m of op(A) start at A + m lda, or at
     * column m (A + m) when A is stored transposed */
    int block = (M + nt - 1) / nt;
    block = (block + GEMM_ROW_ALIGN - 1) / GEMM_ROW_ALIGN * GEMM_ROW_ALIGN;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int m0 = t * block, m1 = m0 + block < M ? m0 + block : M;
        if (m0 >= m1) continue;
        const float *a = ta ? A + m0 : A + (size_t)m0 * lda;
        gemm_one(ta, tb, m1 - m0, N, K, alpha, a, lda, B, ldb, beta, C + (size_t)m0 * ldc, ldc);
    }
}

/* dst (rows, cols), packed, = src (rows, cols; leading dimension ld)
 * rounded to bf16. */
static void round_bf16(float *restrict dst, const float *restrict src, int rows, int cols, int ld) {
    for (int r = 0; r < rows; r++) {
        const float *s = src + (size_t)r * ld;
        float *d = dst + (size_t)r * cols;
        for (int c = 0; c < cols; c++) d[c] = pd_bf16_round(s[c]);
    }
}

/* Rounds both operands into one temporary (as stored: A is (K, M) when
 * trans_a) and runs the fp32 path on the copies. */
static pd_status gemm_bf16_emulated(bool ta, bool tb, int M, int N, int K, float alpha,
                                    const float *A, int lda, const float *B, int ldb, float beta,
                                    float *C, int ldc) {
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    size_t na = (size_t)ar * ac, nb = (size_t)br * bc;
    float *buf = malloc((na + nb) * sizeof(float) + 1);
    if (!buf)
        return pd_fail(PD_ERR_NOMEM, "gemm (bf16-emulated): no memory for the rounded operands "
                       "of a %d x %d x %d product", M, N, K);
    double mark = pd_gemm_costs_mark();
    round_bf16(buf, A, ar, ac, lda);
    round_bf16(buf + na, B, br, bc, ldb);
    pd_gemm_costs_add(PD_GEMM_CONVERT, &mark);
    gemm_fp32(ta, tb, M, N, K, alpha, buf, ac, buf + na, bc, beta, C, ldc);
    pd_gemm_costs_add(PD_GEMM_COMPUTE, &mark);
    free(buf);
    return PD_OK;
}

static atomic_bool fp32_onednn; /* bench --fp32-gemm onednn */

pd_status pd_gemm_set_fp32_onednn(bool on) {
#ifndef PD_HAVE_DNNL
    if (on)
        return pd_fail(PD_ERR_ARG, "gemm: this build has no oneDNN (install libdnnl-dev and "
                       "rebuild) for fp32 products through oneDNN");
#endif
    atomic_store(&fp32_onednn, on);
    return PD_OK;
}

static pd_status gemm_dispatch(pd_precision prec, bool ta, bool tb, int M, int N, int K,
                               float alpha, const float *A, int lda, const float *B, int ldb,
                               float beta, float *C, int ldc) {
    switch (prec) {
    case PD_PRECISION_FP32: {
#ifdef PD_HAVE_DNNL
        if (atomic_load_explicit(&fp32_onednn, memory_order_relaxed))
            return pd_gemm_dnnl(false, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
        double mark = pd_gemm_costs_mark();
        if (pd_gemm_skinny_fits(ta, M, N, K))
            pd_gemm_skinny(tb, M, N, K, alpha, A, lda, B, ldb, beta, NULL, C, ldc);
        else if (!(pd_gemm_skinny_wgrad_fits(ta, tb, M, N, K) &&
                   pd_gemm_skinny_wgrad(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)))
            gemm_fp32(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        pd_gemm_costs_add(PD_GEMM_COMPUTE, &mark);
        return PD_OK;
    }
    case PD_PRECISION_BF16_EMULATED:
        return gemm_bf16_emulated(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    case PD_PRECISION_BF16:
#ifdef PD_HAVE_DNNL
        return pd_gemm_dnnl(true, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
        break;
#endif
    }
    return pd_fail(PD_ERR_ARG, "gemm: precision %d has no backend in this build", (int)prec);
}

pd_status pd_gemm(pd_precision prec, bool ta, bool tb, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    pd_gemm_shape shape = {.trans_a = ta, .trans_b = tb, .prec = prec, .M = M, .N = N, .K = K};
    double mark = pd_gemm_costs_enter(&shape);
    pd_status st = gemm_dispatch(prec, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    pd_gemm_costs_leave(&shape, mark);
    return st;
}

/* ---- what the CPU offers a bf16 GEMM ------------------------------------ */

#if defined(__x86_64__) || defined(__i386__)
/* XCR0 bits the OS sets when it saves the AVX-512 state (opmask, ZMM). */
static bool os_saves_avx512(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false; /* OSXSAVE */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0xe6u) == 0xe6u; /* SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM */
}

bool pd_cpu_has_avx512_bf16(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
    return (a & (1u << 5)) && os_saves_avx512(); /* leaf 7.1 EAX bit 5: AVX512_BF16 */
}

bool pd_cpu_has_amx_bf16(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return (d & (1u << 22)) != 0; /* leaf 7.0 EDX bit 22: AMX-BF16 */
}
#else
bool pd_cpu_has_avx512_bf16(void) { return false; }
bool pd_cpu_has_amx_bf16(void) { return false; }
#endif

const char *pd_precision_problem(pd_precision p) {
    switch (p) {
    case PD_PRECISION_FP32:
    case PD_PRECISION_BF16_EMULATED: return NULL;
    case PD_PRECISION_BF16:
        if (!pd_cpu_has_avx512_bf16() && !pd_cpu_has_amx_bf16())
            return "bf16 needs a CPU with AVX512_BF16 or AMX-BF16, and this CPU has neither; use "
                   "fp32, or bf16-emulated for bf16 numerics (no faster than fp32)";
#ifdef PD_HAVE_DNNL
        return pd_gemm_dnnl_problem(true);
#else
        return "this CPU has AVX512_BF16 or AMX-BF16, but this build has no oneDNN (install "
               "libdnnl-dev and rebuild; -Ddnnl=enabled makes it required); use fp32, or "
               "bf16-emulated for bf16 numerics (no faster than fp32)";
#endif
    }
    return "unknown precision";
}

pd_status pd_gemm_bias(pd_precision prec, bool tb, int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, const float *bias, float *C, int ldc) {
    if (prec == PD_PRECISION_FP32 && pd_gemm_skinny_fits(false, M, N, K)
#ifdef PD_HAVE_DNNL
        && !atomic_load_explicit(&fp32_onednn, memory_order_relaxed)
#endif
    ) {
        pd_gemm_shape shape = {.trans_b = tb, .prec = prec, .M = M, .N = N, .K = K};
        double mark = pd_gemm_costs_enter(&shape), part = pd_gemm_costs_mark();
        pd_gemm_skinny(tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, bias, C, ldc);
        pd_gemm_costs_add(PD_GEMM_COMPUTE, &part);
        pd_gemm_costs_leave(&shape, mark);
        return PD_OK;
    }
#pragma omp parallel for if ((size_t)M * N > (1u << 16))
    for (int r = 0; r < M; r++) memcpy(C + (size_t)r * ldc, bias, (size_t)N * sizeof(float));
    return pd_gemm(prec, false, tb, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C, ldc);
}
