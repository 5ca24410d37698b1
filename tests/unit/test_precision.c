/* GEMM precision (core/ops/gemm.h): bf16 rounding against a reference that
 * rounds in double, the bf16-emulated GEMM against a double GEMM of the
 * rounded operands, the ops under bf16-emulated against fp32 on operands
 * rounded beforehand (forward and backward), sdpa within bf16 tolerance,
 * and the refusal of `precision = bf16` on a CPU or build without it.
 * The training-run agreement of fp32 and bf16-emulated is in test_train.c. */
#include <float.h>

#include "test_util.h"
#include "pixeldit/config.h"
#include "gemm.h" /* internal: pd_gemm, pd_bf16_round, the CPU probes */

/* Nearest bf16 (8 significant bits, fp32's exponent range, subnormal
 * spacing 2^-133), ties to even, computed in double. */
static double ref_bf16(double x) {
    if (x == 0 || !isfinite(x)) return x;
    int e;
    frexp(x, &e); /* |x| = m 2^e, 0.5 <= m < 1 */
    double ulp = ldexp(1.0, e - 8 > -133 ? e - 8 : -133);
    double r = nearbyint(x / ulp) * ulp; /* default rounding: half to even */
    double max = ldexp(255.0 / 128.0, 127); /* largest finite bf16 */
    if (fabs(r) > max) return r > 0 ? INFINITY : -INFINITY;
    return r;
}

static void bf16_round_matches_double_reference(void **state) {
    (void)state;
    const float special[] = {
        0.0f, -0.0f, 1.0f, -1.0f, 1.0f + 0x1p-8f /* tie: down to even 1 */,
        1.0f + 3 * 0x1p-8f /* tie: up to even 1 + 2^-6 */, 1.0f + 0x1p-8f + 0x1p-20f,
        FLT_MAX, -FLT_MAX, 0x1.fefp127f, FLT_MIN, 0x1p-140f, 0x1.8p-133f, 0x1p-149f,
        3.14159265f, -2.71828183e-20f, 65504.0f, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) {
        double want = ref_bf16(special[i]);
        float got = pd_bf16_round(special[i]);
        if ((double)got != want || !signbit(got) != !signbit(want))
            fail_msg("bf16(%a) = %a, want %a", (double)special[i], (double)got, want);
    }
    assert_true(isnan(pd_bf16_round(NAN)));
    float buf[20000];
    pd_rng r;
    pd_rng_seed(&r, 5);
    pd_rng_fill_normal(&r, buf, 20000, 0.0f, 1.0f);
    for (int i = 0; i < 20000; i++) {
        float x = ldexpf(buf[i], (i % 61) - 30); /* many exponents */
        if ((double)pd_bf16_round(x) != ref_bf16(x))
            fail_msg("bf16(%a) = %a, want %a", (double)x, (double)pd_bf16_round(x), ref_bf16(x));
    }
}

/* Row-major element (r, c) of an operand stored transposed or not. */
static double at(const float *m, bool trans, int ld, int r, int c) {
    return trans ? m[(size_t)c * ld + r] : m[(size_t)r * ld + c];
}

/* pd_gemm(BF16_EMULATED) against a double GEMM of the operands rounded in
 * double, for every trans combination and beta; and far enough from the
 * unrounded product that the rounding cannot have been skipped. */
static void gemm_bf16_emulated_matches_rounded_double(void **state) {
    (void)state;
    const int M = 301, N = 67, K = 129; /* splits across threads, odd sizes */
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C0 = malloc(sizeof(float) * M * N), *C = malloc(sizeof(float) * M * N);
    assert_true(A && B && C0 && C);
    tu_fill(A, (size_t)M * K, 70);
    tu_fill(B, (size_t)K * N, 71);
    tu_fill(C0, (size_t)M * N, 72);
    for (int combo = 0; combo < 8; combo++) {
        bool ta = combo & 1, tb = combo & 2;
        float beta = (combo & 4) ? 1.0f : 0.0f, alpha = 0.75f;
        int lda = ta ? M : K, ldb = tb ? K : N;
        memcpy(C, C0, sizeof(float) * M * N);
        assert_int_equal(pd_gemm(PD_PRECISION_BF16_EMULATED, ta, tb, M, N, K, alpha, A, lda, B,
                                 ldb, beta, C, N),
                         PD_OK);
        double worst = 0, far = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0, mag = 0, exact = 0;
                for (int k = 0; k < K; k++) {
                    double a = at(A, ta, lda, i, k), b = at(B, tb, ldb, k, j);
                    s += ref_bf16(a) * ref_bf16(b);
                    mag += fabs(ref_bf16(a) * ref_bf16(b));
                    exact += a * b;
                }
                double c0 = beta * C0[(size_t)i * N + j];
                double want = c0 + alpha * s, got = C[(size_t)i * N + j];
                double tol = 1e-6 * (alpha * mag + fabs(c0)) + 1e-30;
                if (fabs(got - want) / tol > worst) worst = fabs(got - want) / tol;
                double dev = fabs(got - (c0 + alpha * exact)) / (alpha * mag + fabs(c0) + 1e-30);
                if (dev > far) far = dev;
            }
        print_message("  ta %d tb %d beta %g: worst err/tol %.3f, largest distance from the "
                      "unrounded product %.2e\n", ta, tb, (double)beta, worst, far);
        if (worst > 1.0) fail_msg("ta %d tb %d beta %g: err/tol %g", ta, tb, (double)beta, worst);
        if (far < 1e-4) fail_msg("ta %d tb %d: result is the fp32 product (%g)", ta, tb, far);
    }
    free(A), free(B), free(C0), free(C);
}

/* ---- ops under bf16-emulated = fp32 on operands rounded beforehand ------- */

typedef struct {
    const char *name;
    int n_in, n_operands; /* inputs [0, n_operands) are GEMM operands; the rest biases */
    int shapes[3][4];
    int ndims[3];
} op_case;

/* One forward and backward of `name` on inputs `in` (its GEMM operands
 * rounded to bf16 first when `round`) at precision p; loss = sum(y * r) with r bf16-exact, so
 * the gradient reaching the op is exact in bf16 too. Returns the output
 * and gradients, concatenated, in a malloc'd buffer of *n floats. */
static float *run_op(const op_case *c, float *const *in, bool round, pd_precision p, size_t *n) {
    pd_ctx *ctx = pd_ctx_new(0);
    assert_non_null(ctx);
    assert_int_equal(pd_ctx_set_precision(ctx, p), PD_OK);
    pd_tensor *t[3];
    for (int i = 0; i < c->n_in; i++) {
        size_t k = pd_shape_numel(c->shapes[i], c->ndims[i]);
        float *tmp = malloc(k * sizeof(float));
        for (size_t j = 0; j < k; j++) tmp[j] = round && i < c->n_operands ? pd_bf16_round(in[i][j]) : in[i][j];
        t[i] = pd_tensor_from(ctx, tmp, c->shapes[i], c->ndims[i]);
        free(tmp);
        assert_int_equal(pd_tensor_set_requires_grad(ctx, t[i]), PD_OK);
    }
    pd_tensor *y = NULL;
    if (!strcmp(c->name, "linear")) y = pd_linear(ctx, t[0], t[1], t[2]);
    if (!strcmp(c->name, "matmul")) y = pd_matmul(ctx, t[0], t[1], PD_TRANS_B);
    if (!strcmp(c->name, "conv2d")) y = pd_conv2d(ctx, t[0], t[1], t[2], 1, 1);
    if (!strcmp(c->name, "conv_transpose2x2")) y = pd_conv_transpose2x2(ctx, t[0], t[1], t[2]);
    if (!strcmp(c->name, "sdpa")) y = pd_sdpa(ctx, t[0], t[1], t[2], 0.35f);
    if (!y) fail_msg("%s: %s", c->name, pd_ctx_error(ctx));
    float *r = malloc(y->numel * sizeof(float));
    tu_fill(r, y->numel, 90);
    for (size_t j = 0; j < y->numel; j++) r[j] = pd_bf16_round(r[j]);
    pd_tensor *rt = pd_tensor_from(ctx, r, y->shape, y->ndim);
    free(r);
    pd_tensor *loss = pd_sum(ctx, pd_mul(ctx, y, rt));
    if (!loss || pd_backward(ctx, loss)) fail_msg("%s backward: %s", c->name, pd_ctx_error(ctx));
    *n = y->numel;
    for (int i = 0; i < c->n_in; i++) *n += t[i]->numel;
    float *out = malloc(*n * sizeof(float)), *o = out;
    memcpy(o, y->data, y->numel * sizeof(float));
    o += y->numel;
    for (int i = 0; i < c->n_in; i++) {
        memcpy(o, t[i]->grad, t[i]->numel * sizeof(float));
        o += t[i]->numel;
    }
    pd_ctx_free(ctx);
    return out;
}

/* Largest |a - b| / (max |b| + tiny) over n floats. */
static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
        if (fabs((double)b[i]) > m) m = fabs((double)b[i]);
    }
    return d / m;
}

static void fill_case(const op_case *c, float **in, uint64_t seed) {
    for (int i = 0; i < c->n_in; i++) {
        size_t k = pd_shape_numel(c->shapes[i], c->ndims[i]);
        in[i] = malloc(k * sizeof(float));
        tu_fill(in[i], k, seed + (uint64_t)i);
    }
}

/* Every GEMM operand of linear, matmul and the convolutions is an input,
 * the output gradient, or a copy of them (im2col), so under bf16-emulated
 * they give exactly what fp32 gives on inputs rounded beforehand; the
 * biases' gradients are column sums, never rounded. */
static void ops_bf16_emulated_are_fp32_on_rounded_operands(void **state) {
    (void)state;
    const op_case cases[] = {
        {"linear", 3, 2, {{2, 37, 48}, {40, 48}, {40}}, {3, 2, 1}},
        {"matmul", 2, 2, {{3, 29, 24}, {3, 33, 24}}, {3, 3}},
        {"conv2d", 3, 2, {{3, 5, 9, 7}, {6, 5, 3, 3}, {6}}, {4, 4, 1}},
        {"conv_transpose2x2", 3, 2, {{3, 6, 5, 4}, {6, 4, 2, 2}, {4}}, {4, 4, 1}},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const op_case *c = &cases[ci];
        float *in[3];
        fill_case(c, in, 100 + ci * 10);
        size_t n1, n2, n3;
        float *emu = run_op(c, in, false, PD_PRECISION_BF16_EMULATED, &n1);
        float *ref = run_op(c, in, true, PD_PRECISION_FP32, &n2);
        float *plain = run_op(c, in, false, PD_PRECISION_FP32, &n3);
        assert_true(n1 == n2 && n2 == n3);
        double d = rel_diff(emu, ref, n1), dev = rel_diff(emu, plain, n1);
        print_message("  %-18s vs fp32 on rounded inputs %.2e; vs plain fp32 %.2e\n", c->name, d,
                      dev);
        if (d > 1e-6) fail_msg("%s: bf16-emulated differs from fp32 on rounded inputs: %g", c->name, d);
        if (dev < 1e-5 || dev > 2e-2)
            fail_msg("%s: bf16-emulated vs plain fp32 %g, expected bf16 rounding (1e-5..2e-2)",
                     c->name, dev);
        free(emu), free(ref), free(plain);
        for (int i = 0; i < c->n_in; i++) free(in[i]);
    }
}

/* sdpa also rounds the softmax probabilities and dS, which no rounding of
 * the inputs reproduces: its output and gradients stay within bf16
 * tolerance of fp32 and differ from it. */
static void sdpa_bf16_emulated_within_bf16_tolerance(void **state) {
    (void)state;
    const op_case c = {"sdpa", 3, 3, {{2, 3, 19, 16}, {2, 3, 23, 16}, {2, 3, 23, 16}}, {4, 4, 4}};
    float *in[3];
    fill_case(&c, in, 200);
    size_t n1, n2;
    float *emu = run_op(&c, in, false, PD_PRECISION_BF16_EMULATED, &n1);
    float *plain = run_op(&c, in, false, PD_PRECISION_FP32, &n2);
    assert_true(n1 == n2);
    double dev = rel_diff(emu, plain, n1);
    print_message("  sdpa bf16-emulated vs fp32: %.2e (tolerance 2e-2)\n", dev);
    if (dev < 1e-5 || dev > 2e-2) fail_msg("sdpa: bf16-emulated vs fp32 %g, not in 1e-5..2e-2", dev);
    free(emu), free(plain);
    for (int i = 0; i < 3; i++) free(in[i]);
}

/* ---- refusal ------------------------------------------------------------- */

static void bf16_refused_with_key_and_reason(void **state) {
    (void)state;
    static pd_config cfg;
    pd_config_defaults(&cfg);
    assert_int_equal(cfg.train.precision, PD_PRECISION_FP32); /* the default */
    assert_int_equal(pd_config_load_string(&cfg, "[train]\nlr = 1e-4\nprecision = bf16-emulated\n",
                                           "emu.ini"),
                     PD_OK);
    assert_int_equal(pd_config_validate(&cfg), PD_OK);
    assert_int_equal(cfg.train.precision, PD_PRECISION_BF16_EMULATED);

    pd_config_defaults(&cfg);
    assert_int_equal(pd_config_load_string(&cfg, "[train]\nlr = 1e-4\nprecision = bf16\n", "b.ini"),
                     PD_OK);
    bool cpu_bf16 = pd_cpu_has_avx512_bf16() || pd_cpu_has_amx_bf16();
#ifdef PD_HAVE_DNNL
    if (cpu_bf16) { /* the native backend runs here: accepted, and it computes */
        assert_int_equal(pd_config_validate(&cfg), PD_OK);
        pd_ctx *ctx = pd_ctx_new(0);
        assert_int_equal(pd_ctx_set_precision(ctx, PD_PRECISION_BF16), PD_OK);
        float c = 0;
        assert_int_equal(pd_gemm(PD_PRECISION_BF16, false, false, 1, 1, 1, 1.0f, (float[]){3},
                                 1, (float[]){0.5f}, 1, 0.0f, &c, 1),
                         PD_OK);
        assert_true(c == 1.5f);
        pd_ctx_free(ctx);
        return;
    }
#endif
    assert_int_equal(pd_config_validate(&cfg), PD_ERR_CONFIG);
    const char *msg = pd_last_error();
    print_message("  %s\n", msg);
    TU_ASSERT_CONTAINS(msg, "b.ini:3");
    TU_ASSERT_CONTAINS(msg, "precision");
    TU_ASSERT_CONTAINS(msg, "bf16-emulated"); /* the way out */
    /* the reason: the CPU feature this machine lacks, or, where it has
     * one, the missing oneDNN */
    TU_ASSERT_CONTAINS(msg, cpu_bf16 ? "no oneDNN" : "AVX512_BF16");

    pd_ctx *ctx = pd_ctx_new(0);
    assert_int_equal(pd_ctx_set_precision(ctx, PD_PRECISION_BF16), PD_ERR_ARG);
    assert_int_equal(pd_ctx_precision(ctx), PD_PRECISION_FP32); /* unchanged */
    assert_int_equal(pd_gemm(PD_PRECISION_BF16, false, false, 1, 1, 1, 1.0f, (float[]){1},
                             1, (float[]){1}, 1, 0.0f, (float[]){0}, 1),
                     PD_ERR_ARG);
    pd_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bf16_round_matches_double_reference),
        cmocka_unit_test(gemm_bf16_emulated_matches_rounded_double),
        cmocka_unit_test(ops_bf16_emulated_are_fp32_on_rounded_operands),
        cmocka_unit_test(sdpa_bf16_emulated_within_bf16_tolerance),
        cmocka_unit_test(bf16_refused_with_key_and_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
