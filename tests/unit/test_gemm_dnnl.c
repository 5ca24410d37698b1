/* The oneDNN GEMM backend (core/ops/gemm_dnnl.c), built with -Ddnnl.
 *
 * The fp32 path shares every line with bf16 but the element type, and runs
 * on any x86 CPU: it is checked against a double GEMM for every trans
 * combination, alpha, beta and a strided C, from inside an OpenMP region,
 * and with more shapes than the cache keeps. The bf16 path is checked
 * against the bf16-emulated GEMM (same rounded operands, fp32
 * accumulation) where the CPU has AVX512_BF16 or AMX; elsewhere the test
 * checks that oneDNN's refusal comes back as a status with a message. */
#include "test_util.h"
#include "gemm.h"      /* internal: pd_gemm, the CPU probes */
#include "gemm_dnnl.h" /* internal: the backend */

#ifdef _OPENMP
#include <omp.h>
#endif

static bool cpu_has_bf16(void) { return pd_cpu_has_avx512_bf16() || pd_cpu_has_amx_bf16(); }

/* want (M, N; ld ldc) = alpha op(A) op(B) + beta C0 in double. */
static void ref_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, const float *C0, float *want, int ldc) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
                double b = tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
                s += a * b;
            }
            size_t i = (size_t)m * ldc + n;
            want[i] = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * C0[i]));
        }
}

typedef struct gemm_case {
    bool ta, tb;
    int M, N, K, pad; /* pad: extra columns of every leading dimension */
    float alpha, beta;
} gemm_case;

/* Runs one case through pd_gemm_dnnl(bf16) and checks it against want:
 * the double GEMM for fp32; for bf16 the bf16-emulated pd_gemm. Padding
 * columns of C must be left alone. */
static void run_case(const gemm_case *g, bool bf16, uint64_t seed) {
    int ar = g->ta ? g->K : g->M, ac = (g->ta ? g->M : g->K) + g->pad;
    int br = g->tb ? g->N : g->K, bc = (g->tb ? g->K : g->N) + g->pad;
    int ldc = g->N + g->pad;
    size_t nc = (size_t)g->M * ldc;
    float *A = malloc((size_t)ar * ac * sizeof(float)), *B = malloc((size_t)br * bc * sizeof(float));
    float *C = malloc(nc * sizeof(float)), *want = malloc(nc * sizeof(float));
    assert_true(A && B && C && want);
    tu_fill(A, (size_t)ar * ac, seed);
    tu_fill(B, (size_t)br * bc, seed + 1);
    tu_fill(C, nc, seed + 2);
    memcpy(want, C, nc * sizeof(float));
    if (bf16)
        assert_int_equal(pd_gemm(PD_PRECISION_BF16_EMULATED, g->ta, g->tb, g->M, g->N, g->K,
                                 g->alpha, A, ac, B, bc, g->beta, want, ldc),
                         PD_OK);
    else
        ref_gemm(g->ta, g->tb, g->M, g->N, g->K, g->alpha, A, ac, B, bc, g->beta, C, want, ldc);
    pd_status st = pd_gemm_dnnl(bf16, g->ta, g->tb, g->M, g->N, g->K, g->alpha, A, ac, B, bc,
                                g->beta, C, ldc);
    if (st != PD_OK) fail_msg("%s", pd_last_error());
    char what[128];
    snprintf(what, sizeof what, "%s ta %d tb %d %dx%dx%d pad %d alpha %g beta %g",
             bf16 ? "bf16" : "f32", g->ta, g->tb, g->M, g->N, g->K, g->pad, (double)g->alpha,
             (double)g->beta);
    /* fp32: summation order only; bf16: the same rounded products summed
     * in another order */
    expect_close(what, C, want, nc, bf16 ? 2e-6 : 1e-6);
    for (int m = 0; m < g->M; m++) /* padding untouched (bitwise: the fill values) */
        for (int p = g->N; p < ldc; p++)
            assert_memory_equal(&C[(size_t)m * ldc + p], &want[(size_t)m * ldc + p], sizeof(float));
    free(A), free(B), free(C), free(want);
}

static const gemm_case cases[] = {
    {.ta = false, .tb = false, .M = 7, .N = 5, .K = 3, .pad = 0, .alpha = 1, .beta = 0},
    {.ta = false, .tb = true, .M = 64, .N = 48, .K = 32, .pad = 3, .alpha = 1, .beta = 1},
    {.ta = true, .tb = false, .M = 33, .N = 17, .K = 65, .pad = 1, .alpha = 0.125f, .beta = 0},
    {.ta = true, .tb = true, .M = 16, .N = 96, .K = 24, .pad = 0, .alpha = 2, .beta = 0.5f},
    {.ta = false, .tb = true, .M = 288, .N = 192, .K = 64, .pad = 0, .alpha = 1, .beta = 0},
    {.ta = true, .tb = false, .M = 192, .N = 64, .K = 288, .pad = 5, .alpha = 1, .beta = 1},
    {.ta = false, .tb = false, .M = 1, .N = 1, .K = 1, .pad = 0, .alpha = -1, .beta = 0},
};

static void f32_matches_double_gemm(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i], false, 10 + i);
    /* the same shapes again: now from the cache */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i], false, 30 + i);
}

/* Attention calls the seam from every OpenMP thread at once. */
static void f32_concurrent_calls_agree(void **state) {
    (void)state;
    enum { H = 8, M = 72, N = 72, K = 32 };
    float *q = malloc(sizeof(float) * H * M * K), *k = malloc(sizeof(float) * H * N * K);
    float *par = malloc(sizeof(float) * H * M * N), *seq = malloc(sizeof(float) * H * M * N);
    assert_true(q && k && par && seq);
    tu_fill(q, (size_t)H * M * K, 3);
    tu_fill(k, (size_t)H * N * K, 4);
    int fails = 0;
#pragma omp parallel for num_threads(2) schedule(static, 1) reduction(+ : fails)
    for (int h = 0; h < H; h++)
        fails += pd_gemm_dnnl(false, false, true, M, N, K, 0.25f, q + (size_t)h * M * K, K,
                              k + (size_t)h * N * K, K, 0.0f, par + (size_t)h * M * N, N) != PD_OK;
    assert_int_equal(fails, 0);
    for (int h = 0; h < H; h++)
        assert_int_equal(pd_gemm_dnnl(false, false, true, M, N, K, 0.25f, q + (size_t)h * M * K, K,
                                      k + (size_t)h * N * K, K, 0.0f, seq + (size_t)h * M * N, N),
                         PD_OK);
    assert_memory_equal(par, seq, sizeof(float) * H * M * N);
    free(q), free(k), free(par), free(seq);
}

/* Worker threads keep memory objects per cached primitive; after a
 * release the primitives are gone and new ones may sit at the same
 * addresses, so every thread must make fresh objects (the cache's
 * generation). Each round releases, then runs a new shape on both
 * threads and checks it against the double GEMM. Whether a new primitive
 * does land at a freed one's address is up to the allocator, so this
 * checks that calls stay right across releases, not that reuse happened. */
static void f32_threads_after_release(void **state) {
    (void)state;
    enum { H = 4, ROUNDS = 4 };
    for (int r = 0; r < ROUNDS; r++) {
        int M = 40 + 8 * r, N = 24 + 16 * r, K = 48 - 8 * r;
        float *a = malloc(sizeof(float) * H * M * K), *b = malloc(sizeof(float) * H * K * N);
        float *c = calloc((size_t)H * M * N, sizeof(float)), *want = malloc(sizeof(float) * H * M * N);
        assert_true(a && b && c && want);
        tu_fill(a, (size_t)H * M * K, 50 + r);
        tu_fill(b, (size_t)H * K * N, 60 + r);
        pd_gemm_dnnl_release();
        int fails = 0;
#pragma omp parallel for num_threads(2) schedule(static, 1) reduction(+ : fails)
        for (int h = 0; h < H; h++)
            fails += pd_gemm_dnnl(false, false, false, M, N, K, 1.0f, a + (size_t)h * M * K, K,
                                  b + (size_t)h * K * N, N, 0.0f, c + (size_t)h * M * N, N) != PD_OK;
        assert_int_equal(fails, 0);
        for (int h = 0; h < H; h++)
            ref_gemm(false, false, M, N, K, 1.0f, a + (size_t)h * M * K, K, b + (size_t)h * K * N, N,
                     0.0f, c, want + (size_t)h * M * N, N);
        expect_close("after a release", c, want, (size_t)H * M * N, 1e-6);
        free(a), free(b), free(c), free(want);
    }
}

/* More keys than the cache keeps (600 alphas; it caches 512): the
 * uncached primitives are made, used and destroyed per call (LSan in the
 * sanitizer build would see a leak), and a release empties it. */
static void f32_past_the_cache(void **state) {
    (void)state;
    float a[4 * 5], b[5 * 3], c[4 * 3], want[4 * 3];
    tu_fill(a, 4 * 5, 7);
    tu_fill(b, 5 * 3, 8);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 600; i++) {
            float alpha = 1.0f + (float)i / 64;
            assert_int_equal(pd_gemm_dnnl(false, false, false, 4, 3, 5, alpha, a, 5, b, 3, 0.0f, c, 3),
                             PD_OK);
            ref_gemm(false, false, 4, 3, 5, alpha, a, 5, b, 3, 0.0f, c, want, 3);
            expect_close("past the cache", c, want, 12, 1e-6);
        }
    pd_gemm_dnnl_release();
    run_case(&cases[1], false, 50);
}

static void edge_shapes(void **state) {
    (void)state;
    float c[6] = {1, 2, 3, 4, 5, 6};
    /* K = 0: C = beta C, as sgemm */
    assert_int_equal(pd_gemm_dnnl(false, false, false, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 0.5f, c, 3),
                     PD_OK);
    assert_true(c[0] == 0.5f && c[5] == 3.0f);
    assert_int_equal(pd_gemm_dnnl(false, false, false, 0, 3, 4, 1.0f, NULL, 4, NULL, 3, 0.0f, c, 3),
                     PD_OK);
    assert_true(c[0] == 0.5f);
}

static void bf16_matches_emulated_or_is_refused(void **state) {
    (void)state;
    const char *why = pd_gemm_dnnl_problem(true);
    if (!cpu_has_bf16()) {
        /* oneDNN has no bf16 matmul without AVX512_BF16 / AMX (or only a
         * slow emulation on plain AVX-512); pixeldit refuses earlier on
         * the CPU flags, but the backend must fail cleanly, not crash */
        print_message("  no AVX512_BF16/AMX here; oneDNN bf16: %s\n", why ? why : "runs");
        if (why) TU_ASSERT_CONTAINS(why, "bf16");
        float c = 0;
        pd_status st = pd_gemm_dnnl(true, false, false, 1, 1, 1, 1.0f, (float[]){1}, 1,
                                    (float[]){1}, 1, 0.0f, &c, 1);
        assert_true(why ? st == PD_ERR_ARG : (st == PD_OK && c == 1.0f));
        return;
    }
    if (why) fail_msg("this CPU has bf16, but: %s", why);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&cases[i], true, 70 + i);
    /* through the seam, as the ops call it */
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4];
    assert_int_equal(pd_gemm(PD_PRECISION_BF16, false, false, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2),
                     PD_OK);
    assert_true(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11);
}

/* The converting loop rounds exactly as pd_bf16_round: op(A) (1, 67) times
 * the identity gives each rounded element back unchanged (products by 1
 * and 0 are exact). Halfway cases (both parities), values just either side
 * of them, and a length that is no multiple of the vector width. */
static void bf16_rounding_matches_scalar(void **state) {
    (void)state;
    if (!cpu_has_bf16()) {
        print_message("  no AVX512_BF16/AMX here: nothing to check\n");
        return;
    }
    enum { K = 67 };
    float a[K], eye[K * K], c[K];
    const uint32_t low[] = {0x8000u, 0x7fffu, 0x8001u, 0x0000u, 0xffffu};
    for (int k = 0; k < K; k++) {
        uint32_t u = (uint32_t)(0x3f800000u + ((uint32_t)k << 16)) | low[k % 5];
        if (k % 3 == 0) u |= 0x80000000u;
        memcpy(&a[k], &u, sizeof u);
        for (int n = 0; n < K; n++) eye[k * K + n] = k == n ? 1.0f : 0.0f;
    }
    assert_int_equal(pd_gemm_dnnl(true, false, false, 1, K, K, 1.0f, a, K, eye, K, 0.0f, c, K),
                     PD_OK);
    for (int k = 0; k < K; k++) {
        float want = pd_bf16_round(a[k]);
        if (memcmp(&c[k], &want, sizeof want))
            fail_msg("element %d: %a rounded to %a, want %a", k, (double)a[k], (double)c[k],
                     (double)want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(f32_matches_double_gemm),
        cmocka_unit_test(f32_concurrent_calls_agree),
        cmocka_unit_test(f32_past_the_cache),
        cmocka_unit_test(f32_threads_after_release),
        cmocka_unit_test(edge_shapes),
        cmocka_unit_test(bf16_matches_emulated_or_is_refused),
        cmocka_unit_test(bf16_rounding_matches_scalar),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    pd_gemm_dnnl_release();
    return rc;
}
