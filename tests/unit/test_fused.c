/* Fused kernels against their composed references, and their own
 * finite-difference gradient checks.
 *
 * Each case function builds its output with the fused op when
 * pd_ctx_fused(ctx) is on and with the composed ops otherwise; the same
 * function feeds pd_gradcheck (fused; the checker also runs the overwrite
 * path under NaN poison) and compare_paths (fused vs composed, output and
 * every input gradient). */
#include <cblas.h>
#include <omp.h>

#include "gemm.h" /* internal: the row-split sgemm */
#include "test_util.h"

#define TOL_PATHS 2e-6 /* same arithmetic, reordered sums only */

/* ---- RMSNorm + modulate ------------------------------------------------------------ */

typedef struct {
    bool has_w, has_shift;
} rms_mod_case;

/* inputs: x (B, M, D), scale, shift, w */
static pd_tensor *fn_rms_mod(pd_ctx *ctx, pd_tensor *const *in, int n, void *user) {
    (void)n;
    const rms_mod_case *c = user;
    pd_tensor *w = c->has_w ? in[3] : NULL, *shift = c->has_shift ? in[2] : NULL;
    if (pd_ctx_fused(ctx)) return pd_rmsnorm_modulate(ctx, in[0], w, shift, in[1], 1e-6f);
    return pd_modulate(ctx, pd_rmsnorm(ctx, in[0], w, 1e-6f), shift, in[1]);
}

/* ---- LayerNorm + modulate ---------------------------------------------------------- */

typedef struct {
    bool has_w, has_b, has_shift;
} ln_mod_case;

/* inputs: x (B, M, D), scale, shift, w, b */
static pd_tensor *fn_ln_mod(pd_ctx *ctx, pd_tensor *const *in, int n, void *user) {
    (void)n;
    const ln_mod_case *c = user;
    pd_tensor *w = c->has_w ? in[3] : NULL, *b = c->has_b ? in[4] : NULL;
    pd_tensor *shift = c->has_shift ? in[2] : NULL;
    if (pd_ctx_fused(ctx)) return pd_layernorm_modulate(ctx, in[0], w, b, shift, in[1], 1e-6f);
    return pd_modulate(ctx, pd_layernorm(ctx, in[0], w, b, 1e-6f), shift, in[1]);
}

/* ---- qkv heads ------------------------------------------------------------------------ */

typedef struct {
    int heads;
    bool norm;
    const pd_rope_table *rope;
} qkv_case;

/* inputs: qkv (B, N, 3 H hd), q_w (hd), k_w (hd) */
static pd_tensor *fn_qkv(pd_ctx *ctx, pd_tensor *const *in, int n, void *user) {
    (void)n;
    const qkv_case *c = user;
    pd_tensor *qw = c->norm ? in[1] : NULL, *kw = c->norm ? in[2] : NULL;
    if (pd_ctx_fused(ctx)) return pd_qkv_heads(ctx, in[0], c->heads, qw, kw, 1e-6f, c->rope);
    int B = in[0]->shape[0], N = in[0]->shape[1], H = c->heads, hd = in[0]->shape[2] / (3 * H);
    pd_tensor *x = pd_reshape(ctx, in[0], (int[]){B, N, 3, H, hd}, 5);
    x = pd_permute(ctx, x, (int[]){2, 0, 3, 1, 4});
    pd_tensor *parts[3];
    for (int p = 0; p < 3; p++) {
        pd_tensor *t = pd_reshape(ctx, pd_slice(ctx, x, 0, p, 1), (int[]){B, H, N, hd}, 4);
        if (p < 2 && c->norm) t = pd_rmsnorm(ctx, t, p ? kw : qw, 1e-6f);
        if (p < 2 && c->rope) t = pd_rope(ctx, t, c->rope);
        parts[p] = pd_reshape(ctx, t, (int[]){1, B, H, N, hd}, 5);
    }
    return pd_concat(ctx, parts, 3, 0);
}

/* ---- fused vs composed -------------------------------------------------------------------- */

/* Runs fn with the fused kernels and with the composed ops on the same
 * inputs, L = sum(y * r), and compares y and every input gradient. */
static void compare_paths(const char *what, pd_gradcheck_fn fn, void *user, gc_case *c) {
    float *out[2] = {0}, *grads[2][GC_MAX] = {{0}};
    size_t out_n = 0;
    for (int pass = 0; pass < 2; pass++) {
        pd_ctx *ctx = pd_ctx_new(0);
        pd_ctx_set_fused(ctx, pass == 0);
        pd_tensor *ins[GC_MAX];
        for (int i = 0; i < c->n; i++) {
            ins[i] = pd_tensor_from(ctx, c->bufs[i], c->shapes[i], c->ndims[i]);
            pd_tensor_set_requires_grad(ctx, ins[i]);
        }
        /* through an identity op, so the ops under test see unset gradients */
        pd_tensor *mid[GC_MAX];
        for (int i = 0; i < c->n; i++) mid[i] = pd_affine(ctx, ins[i], 1.0f, 0.0f);
        pd_tensor *y = fn(ctx, mid, c->n, user);
        if (!y) fail_msg("%s (%s): %s", what, pass ? "composed" : "fused", pd_ctx_error(ctx));
        float *r = malloc(y->numel * sizeof(float));
        tu_fill(r, y->numel, 99);
        pd_tensor *rt = pd_tensor_from(ctx, r, y->shape, y->ndim);
        if (pd_backward(ctx, pd_sum(ctx, pd_mul(ctx, y, rt))))
            fail_msg("%s: backward: %s", what, pd_ctx_error(ctx));
        out_n = y->numel;
        out[pass] = malloc(out_n * sizeof(float));
        memcpy(out[pass], y->data, out_n * sizeof(float));
        for (int i = 0; i < c->n; i++) {
            grads[pass][i] = malloc(ins[i]->numel * sizeof(float));
            memcpy(grads[pass][i], ins[i]->grad, ins[i]->numel * sizeof(float));
        }
        free(r);
        pd_ctx_free(ctx);
    }
    double worst = expect_close(what, out[0], out[1], out_n, TOL_PATHS);
    for (int i = 0; i < c->n; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s: d input %d", what, i);
        double e = expect_close(name, grads[0][i], grads[1][i],
                                pd_shape_numel(c->shapes[i], c->ndims[i]), TOL_PATHS);
        if (e > worst) worst = e;
        free(grads[0][i]), free(grads[1][i]);
    }
    free(out[0]), free(out[1]);
    print_message("  %-44s fused vs composed %.2g\n", what, worst);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void rmsnorm_modulate_matches_composed(void **state) {
    (void)state;
    const rms_mod_case variants[] = {{true, true}, {false, true}, {true, false}};
    const char *names[] = {"rmsnorm_modulate w + shift", "rmsnorm_modulate no w",
                           "rmsnorm_modulate no shift"};
    for (int v = 0; v < 3; v++) {
        /* per-sample (B, D) conditioning, odd D, and per-element conditioning */
        for (int per_elem = 0; per_elem < 2; per_elem++) {
            gc_case c = {.n = 4,
                         .shapes = {SHAPE(3, 5, 7), SHAPE(3, 7), SHAPE(3, 7), SHAPE(7)},
                         .ndims = {3, 2, 2, 1}};
            if (per_elem) {
                for (int i = 1; i < 3; i++) {
                    c.shapes[i][0] = 3, c.shapes[i][1] = 5, c.shapes[i][2] = 7;
                    c.ndims[i] = 3;
                }
            }
            case_init(&c, 10 + (uint64_t)v);
            rms_mod_case rc = variants[v];
            c.in[2].check = rc.has_shift;
            c.in[3].check = rc.has_w;
            char what[96];
            snprintf(what, sizeof what, "%s%s", names[v], per_elem ? " (per element)" : "");
            compare_paths(what, fn_rms_mod, &rc, &c);
            TU_GRADCHECK(fn_rms_mod, &rc, c.in, c.n, NULL);
            case_free(&c);
        }
    }
    /* large enough for the threaded path (per-thread dw partials) */
    gc_case big = {.n = 4,
                   .shapes = {SHAPE(4, 100, 96), SHAPE(4, 96), SHAPE(4, 96), SHAPE(96)},
                   .ndims = {3, 2, 2, 1}};
    case_init(&big, 30);
    rms_mod_case rc = {true, true};
    compare_paths("rmsnorm_modulate (4, 100, 96), threaded", fn_rms_mod, &rc, &big);
    case_free(&big);
}

static void layernorm_modulate_matches_composed(void **state) {
    (void)state;
    const ln_mod_case variants[] = {{true, true, true}, {false, false, true}, {true, false, false},
                                    {false, true, true}};
    for (int v = 0; v < 4; v++)
        for (int per_elem = 0; per_elem < 2; per_elem++) {
            gc_case c = {.n = 5,
                         .shapes = {SHAPE(3, 5, 7), SHAPE(3, 7), SHAPE(3, 7), SHAPE(7), SHAPE(7)},
                         .ndims = {3, 2, 2, 1, 1}};
            if (per_elem)
                for (int i = 1; i < 3; i++) {
                    c.shapes[i][0] = 3, c.shapes[i][1] = 5, c.shapes[i][2] = 7;
                    c.ndims[i] = 3;
                }
            case_init(&c, 70 + (uint64_t)(v * 2 + per_elem));
            ln_mod_case lc = variants[v];
            c.in[2].check = lc.has_shift;
            c.in[3].check = lc.has_w;
            c.in[4].check = lc.has_b;
            char what[96];
            snprintf(what, sizeof what, "layernorm_modulate w%d b%d shift%d%s", lc.has_w, lc.has_b,
                     lc.has_shift, per_elem ? " (per element)" : "");
            compare_paths(what, fn_ln_mod, &lc, &c);
            TU_GRADCHECK(fn_ln_mod, &lc, c.in, c.n, NULL);
            case_free(&c);
        }
    /* DeCo's shape: (R, w) rows with per-row conditioning, threaded (per-thread dw, db) */
    gc_case big = {.n = 5,
                   .shapes = {SHAPE(2000, 32), SHAPE(2000, 32), SHAPE(2000, 32), SHAPE(32), SHAPE(32)},
                   .ndims = {2, 2, 2, 1, 1}};
    case_init(&big, 80);
    ln_mod_case lc = {true, true, true};
    compare_paths("layernorm_modulate (2000, 32) per row, threaded", fn_ln_mod, &lc, &big);
    case_free(&big);
}

static void qkv_heads_matches_composed(void **state) {
    (void)state;
    /* 2 x 3 grid + 1 identity (in-context) row = 7 positions, head dim 8 */
    pd_rope_table tab;
    if (pd_rope_table_init_2d(&tab, 2, 3, 8, 1, 10000.0f)) fail_msg("%s", pd_last_error());
    const qkv_case variants[] = {{3, true, &tab}, {3, false, &tab}, {2, true, NULL}};
    const char *names[] = {"qkv_heads norm + rope", "qkv_heads rope only", "qkv_heads norm only"};
    for (int v = 0; v < 3; v++) {
        qkv_case qc = variants[v];
        int hd = 8, N = 7;
        gc_case c = {.n = 3,
                     .shapes = {SHAPE(2, N, 3 * qc.heads * hd), SHAPE(hd), SHAPE(hd)},
                     .ndims = {3, 1, 1}};
        case_init(&c, 20 + (uint64_t)v);
        c.in[1].check = c.in[2].check = qc.norm;
        compare_paths(names[v], fn_qkv, &qc, &c);
        TU_GRADCHECK(fn_qkv, &qc, c.in, c.n, NULL);
        case_free(&c);
    }
    pd_rope_table_free(&tab);

    /* large enough for the threaded path: 8 x 8 grid + 1 prefix row */
    if (pd_rope_table_init_2d(&tab, 8, 8, 16, 1, 10000.0f)) fail_msg("%s", pd_last_error());
    qkv_case qc = {2, true, &tab};
    gc_case big = {.n = 3, .shapes = {SHAPE(6, 65, 96), SHAPE(16), SHAPE(16)}, .ndims = {3, 1, 1}};
    case_init(&big, 40);
    compare_paths("qkv_heads (6, 65, 96), threaded", fn_qkv, &qc, &big);
    case_free(&big);
    pd_rope_table_free(&tab);
}

static void fused_ops_refuse_bad_shapes(void **state) {
    (void)state;
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *x = pd_tensor_zeros(ctx, (int[]){2, 4, 6}, 3);
    pd_tensor *bad = pd_tensor_zeros(ctx, (int[]){2, 5}, 2);
    assert_null(pd_rmsnorm_modulate(ctx, x, NULL, NULL, bad, 1e-6f));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "rmsnorm_modulate");
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(2, 5)");
    pd_ctx_reset(ctx);
    pd_tensor *w5 = pd_tensor_zeros(ctx, (int[]){5}, 1), *sc = pd_tensor_zeros(ctx, (int[]){2, 6}, 2);
    assert_null(pd_layernorm_modulate(ctx, x, NULL, w5, NULL, sc, 1e-6f));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "layernorm_modulate: b (5,) does not match x (2, 4, 6): expected (6,)");
    pd_ctx_reset(ctx);
    x = pd_tensor_zeros(ctx, (int[]){2, 4, 10}, 3);
    assert_null(pd_qkv_heads(ctx, x, 2, NULL, NULL, 1e-6f, NULL));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "3 * heads * head_dim");
    pd_ctx_reset(ctx);
    x = pd_tensor_zeros(ctx, (int[]){2, 4, 24}, 3);
    pd_tensor *w = pd_tensor_zeros(ctx, (int[]){3}, 1);
    assert_null(pd_qkv_heads(ctx, x, 2, w, w, 1e-6f, NULL));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "expected (4,)");
    pd_ctx_free(ctx);
}

/* An op that stores into unset gradients must fall back to adding when the
 * same tensor is two of its inputs (the host zeroes first). pd_gradcheck's
 * overwrite pass feeds one intermediate to every slot here. */
static pd_tensor *fn_self_attention(pd_ctx *ctx, pd_tensor *const *in, int n, void *user) {
    (void)n, (void)user;
    return pd_sdpa(ctx, in[0], in[0], in[0], 0.5f);
}
static pd_tensor *fn_gated_self(pd_ctx *ctx, pd_tensor *const *in, int n, void *user) {
    (void)n, (void)user;
    return pd_gated_residual(ctx, in[0], in[1], in[0]);
}
static pd_tensor *fn_modulate_self(pd_ctx *ctx, pd_tensor *const *in, int n, void *user) {
    (void)n, (void)user;
    return pd_rmsnorm_modulate(ctx, in[0], NULL, in[0], in[0], 1e-6f);
}
static pd_tensor *fn_ln_modulate_self(pd_ctx *ctx, pd_tensor *const *in, int n, void *user) {
    (void)n, (void)user;
    return pd_layernorm_modulate(ctx, in[0], NULL, NULL, in[0], in[0], 1e-6f);
}

static void overwrite_ops_with_a_repeated_input(void **state) {
    (void)state;
    gc_case a = {.n = 1, .shapes = {SHAPE(2, 3, 5, 4)}, .ndims = {4}};
    case_init(&a, 50);
    TU_GRADCHECK(fn_self_attention, NULL, a.in, a.n, NULL);
    case_free(&a);
    gc_case g = {.n = 2, .shapes = {SHAPE(2, 3, 5), SHAPE(2, 5)}, .ndims = {3, 2}};
    case_init(&g, 51);
    TU_GRADCHECK(fn_gated_self, NULL, g.in, g.n, NULL);
    case_free(&g);
    gc_case m = {.n = 1, .shapes = {SHAPE(2, 3, 5)}, .ndims = {3}};
    case_init(&m, 52);
    TU_GRADCHECK(fn_modulate_self, NULL, m.in, m.n, NULL);
    TU_GRADCHECK(fn_ln_modulate_self, NULL, m.in, m.n, NULL);
    case_free(&m);
}

/* pd_gemm splits the rows of C across threads; every trans combination and
 * beta must give what one cblas_sgemm call gives. Sizes are large enough to
 * split (and not a multiple of the row alignment). */
static void gemm_row_split_matches_one_call(void **state) {
    (void)state;
    const int M = 523, N = 96, K = 101;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C0 = malloc(sizeof(float) * M * N), *C1 = malloc(sizeof(float) * M * N);
    tu_fill(A, (size_t)M * K, 60);
    tu_fill(B, (size_t)K * N, 61);
    for (int combo = 0; combo < 8; combo++) {
        bool ta = combo & 1, tb = combo & 2;
        float beta = (combo & 4) ? 1.0f : 0.0f;
        int lda = ta ? M : K, ldb = tb ? K : N;
        tu_fill(C0, (size_t)M * N, 62);
        memcpy(C1, C0, sizeof(float) * M * N);
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    M, N, K, 0.5f, A, lda, B, ldb, beta, C0, N);
        assert_int_equal(pd_gemm(PD_PRECISION_FP32, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, beta, C1, N), PD_OK);
        char what[64];
        snprintf(what, sizeof what, "pd_gemm ta %d tb %d beta %g", ta, tb, (double)beta);
        expect_close(what, C1, C0, (size_t)M * N, 1e-6);
    }
    free(A), free(B), free(C0), free(C1);
}

/* A product short in M and N and long in K (a per-pixel layer's weight
 * gradient) is summed from partial products of K chunks on the threads;
 * every trans combination and beta must match one cblas_sgemm call to
 * rounding (a K of 40003 leaves a ragged last chunk). */
static void gemm_k_split_matches_one_call(void **state) {
    (void)state;
    const int M = 16, N = 48, K = 40003;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C0 = malloc(sizeof(float) * M * N), *C1 = malloc(sizeof(float) * M * N);
    tu_fill(A, (size_t)M * K, 70);
    tu_fill(B, (size_t)K * N, 71);
    for (int combo = 0; combo < 8; combo++) {
        bool ta = combo & 1, tb = combo & 2;
        float beta = (combo & 4) ? 1.0f : 0.0f;
        int lda = ta ? M : K, ldb = tb ? K : N;
        tu_fill(C0, (size_t)M * N, 72);
        memcpy(C1, C0, sizeof(float) * M * N);
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    M, N, K, 0.5f, A, lda, B, ldb, beta, C0, N);
        assert_int_equal(pd_gemm(PD_PRECISION_FP32, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, beta, C1, N), PD_OK);
        char what[64];
        snprintf(what, sizeof what, "pd_gemm (K split) ta %d tb %d beta %g", ta, tb, (double)beta);
        expect_close(what, C1, C0, (size_t)M * N, 1e-5);
    }
    free(A), free(B), free(C0), free(C1);
}

/* The skinny kernel (short, narrow op(B) over many rows: the per-pixel
 * layers) against one cblas_sgemm: widths that pad (17, 33) and that do
 * not, K from 1 to 64, a row count that leaves a partial block and splits
 * unevenly over the threads, both B layouts, alpha and beta; beta 0 must
 * not read C (NaN there stays out). */
static void gemm_skinny_matches_one_call(void **state) {
    (void)state;
    const int M = 1031, Ns[] = {17, 32, 33, 48, 64}, Ks[] = {1, 16, 33, 64};
    float *A = malloc(sizeof(float) * M * 64), *B = malloc(sizeof(float) * 64 * 64);
    float *C0 = malloc(sizeof(float) * M * 64), *C1 = malloc(sizeof(float) * M * 64);
    tu_fill(A, (size_t)M * 64, 80);
    tu_fill(B, 64 * 64, 81);
    for (int ni = 0; ni < 5; ni++)
        for (int ki = 0; ki < 4; ki++)
            for (int combo = 0; combo < 6; combo++) {
                int N = Ns[ni], K = Ks[ki];
                bool tb = combo & 1;
                float beta = (combo >> 1) == 0 ? 0.0f : (combo >> 1) == 1 ? 1.0f : 0.5f;
                float alpha = tb ? 0.5f : 1.0f;
                int ldb = tb ? K : N;
                assert_true(pd_gemm_skinny_fits(false, M, N, K));
                tu_fill(C0, (size_t)M * N, 82);
                memcpy(C1, C0, sizeof(float) * M * N);
                if (beta == 0.0f)
                    for (size_t i = 0; i < (size_t)M * N; i++) C1[i] = NAN;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                            A, K, B, ldb, beta, C0, N);
                assert_int_equal(pd_gemm(PD_PRECISION_FP32, false, tb, M, N, K, alpha, A, K, B, ldb, beta,
                                         C1, N), PD_OK);
                char what[80];
                snprintf(what, sizeof what, "pd_gemm (skinny) N %d K %d tb %d beta %g", N, K, tb,
                         (double)beta);
                expect_close(what, C1, C0, (size_t)M * N, 1e-5);
            }
    assert_false(pd_gemm_skinny_fits(false, M, 16, 16)); /* narrow: OpenBLAS */
    assert_false(pd_gemm_skinny_fits(true, M, 32, 32));
    free(A), free(B), free(C0), free(C1);
}

/* The weight-gradient kernel (gemm_skinny.c) against one cblas_sgemm:
 * every width, M with and without a partial tile (1, 5, 16, 37, 64), K
 * with a partial last chunk, leading dimensions wider than the operands,
 * alpha, beta 0 (C holds NaN and must not be read) and beta != 0. */
static void gemm_wgrad_matches_one_call(void **state) {
    (void)state;
    const int K = 8192 + 333, Ms[] = {1, 5, 16, 37, 64}, Ns[] = {16, 32, 48, 64}, lda = 70, ldb = 66;
    float *A = malloc(sizeof(float) * K * lda), *B = malloc(sizeof(float) * K * ldb);
    float *C0 = malloc(sizeof(float) * 64 * 80), *C1 = malloc(sizeof(float) * 64 * 80);
    assert_true(A && B && C0 && C1);
    tu_fill(A, (size_t)K * lda, 90);
    tu_fill(B, (size_t)K * ldb, 91);
    for (int mi = 0; mi < 5; mi++)
        for (int ni = 0; ni < 4; ni++)
            for (int bi = 0; bi < 2; bi++) {
                int M = Ms[mi], N = Ns[ni], ldc = 80;
                float alpha = bi ? 0.5f : 1.0f, beta = bi ? 0.75f : 0.0f;
                assert_true(pd_gemm_skinny_wgrad_fits(true, false, M, N, K));
                tu_fill(C0, (size_t)64 * ldc, 92);
                memcpy(C1, C0, sizeof(float) * 64 * ldc);
                if (beta == 0.0f)
                    for (int i = 0; i < M * ldc; i++) C1[i] = NAN;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                            beta, C0, ldc);
                assert_int_equal(pd_gemm(PD_PRECISION_FP32, true, false, M, N, K, alpha, A, lda, B, ldb,
                                         beta, C1, ldc), PD_OK);
                for (int m = 0; m < M; m++) { /* columns past N untouched */
                    char what[80];
                    snprintf(what, sizeof what, "pd_gemm (wgrad) M %d N %d beta %g row %d", M, N,
                             (double)beta, m);
                    expect_close(what, C1 + m * ldc, C0 + m * ldc, (size_t)N, 1e-4);
                    if (beta != 0.0f)
                        assert_memory_equal(C1 + m * ldc + N, C0 + m * ldc + N, sizeof(float) * (ldc - N));
                }
            }
    assert_false(pd_gemm_skinny_wgrad_fits(true, false, 64, 24, K)); /* not whole vectors */
    assert_false(pd_gemm_skinny_wgrad_fits(true, false, 65, 32, K));
    assert_false(pd_gemm_skinny_wgrad_fits(true, false, 32, 32, 8191));
    assert_false(pd_gemm_skinny_wgrad_fits(false, false, 32, 32, K));
    assert_false(pd_gemm_skinny_wgrad_fits(true, true, 32, 32, K));
    free(A), free(B), free(C0), free(C1);
}

/* pd_gemm_bias (skinny kernel with the bias in its store, or the rows
 * filled with the bias and accumulated onto) against cblas + bias, and the
 * linear op's bias gradient (fixed row blocks on the threads for a narrow
 * output) against column sums in double. */
static void linear_bias_paths(void **state) {
    (void)state;
    enum { M = 5000, K = 16 };
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * 64 * K);
    float *bias = malloc(sizeof(float) * 64), *C0 = malloc(sizeof(float) * M * 64),
          *C1 = malloc(sizeof(float) * M * 64);
    assert_true(A && B && bias && C0 && C1);
    tu_fill(A, (size_t)M * K, 100);
    tu_fill(B, 64 * K, 101);
    tu_fill(bias, 64, 102);
    const int Ns[] = {8, 32, 48, 50}; /* 8: OpenBLAS; the others the skinny kernel, 50 padded */
    for (int ni = 0; ni < 4; ni++)
        for (int tb = 0; tb < 2; tb++) {
            int N = Ns[ni], ldb = tb ? K : N;
            for (int r = 0; r < M; r++) memcpy(C0 + (size_t)r * N, bias, sizeof(float) * N);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A,
                        K, B, ldb, 1.0f, C0, N);
            for (int i = 0; i < M * N; i++) C1[i] = NAN; /* overwritten, never read */
            assert_int_equal(pd_gemm_bias(PD_PRECISION_FP32, tb, M, N, K, A, K, B, ldb, bias, C1, N), PD_OK);
            char what[64];
            snprintf(what, sizeof what, "pd_gemm_bias N %d tb %d", N, tb);
            expect_close(what, C1, C0, (size_t)M * N, 1e-5);
        }
    for (int n = 16; n <= 160; n += 144) { /* narrow: row blocks; wide: column blocks */
        pd_ctx *ctx = pd_ctx_new(0);
        pd_tensor *x = pd_tensor_from(ctx, A, (int[]){M, K}, 2);
        pd_tensor *w = pd_tensor_empty(ctx, (int[]){n, K}, 2);
        pd_tensor *b = pd_tensor_empty(ctx, (int[]){n}, 1);
        pd_tensor *c = pd_tensor_empty(ctx, (int[]){M, n}, 2);
        assert_true(x && w && b && c);
        tu_fill(w->data, w->numel, 104);
        tu_fill(b->data, b->numel, 105);
        tu_fill(c->data, c->numel, 106);
        assert_int_equal(pd_tensor_set_requires_grad(ctx, b), PD_OK);
        pd_tensor *loss = pd_sum(ctx, pd_mul(ctx, pd_linear(ctx, x, w, b), c)); /* dy = c */
        assert_non_null(loss);
        assert_int_equal(pd_backward(ctx, loss), PD_OK);
        double worst = 0, scale = 0;
        for (int o = 0; o < n; o++) {
            double s = 0;
            for (int r = 0; r < M; r++) s += c->data[(size_t)r * n + o];
            worst = fmax(worst, fabs(b->grad[o] - s));
            scale = fmax(scale, fabs(s));
        }
        assert_true(worst <= 1e-5 * scale + 1e-5);
        pd_ctx_free(ctx);
    }
    free(A), free(B), free(bias), free(C0), free(C1);
}

/* bench --profile's per-shape table: every shape counted once per call,
 * longest first, capped, in-region calls apart, nothing after stop. */
static void gemm_costs_by_shape(void **state) {
    (void)state;
    enum { N = 256 };
    float *a = calloc(3 * N * N, sizeof(float));
    assert_non_null(a);
    float *b = a + N * N, *c = b + N * N;
    pd_gemm_costs_start();
    for (int i = 0; i < 3; i++)
        assert_int_equal(pd_gemm(PD_PRECISION_FP32, false, true, N, N, N, 1, a, N, b, N, 0, c, N), PD_OK);
    assert_int_equal(pd_gemm(PD_PRECISION_FP32, true, false, 2, 3, 4, 1, a, 2, b, 3, 0, c, 3), PD_OK);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pd_gemm(PD_PRECISION_FP32, false, false, 2, 3, 4, 1, a, 4, b, 3, 0, c, 3), PD_OK);
    int team = 0;
#pragma omp parallel num_threads(2) reduction(+ : team)
    {
        pd_gemm(PD_PRECISION_FP32, false, false, 2, 3, 4, 1, a, 4, b, 3, 0, c + 6 * omp_get_thread_num(), 3);
        team += 1;
    }
    pd_gemm_costs st;
    pd_gemm_costs_stop(&st);
    pd_gemm(PD_PRECISION_FP32, false, false, 5, 5, 5, 1, a, 5, b, 5, 0, c, 5); /* not counted */
    pd_gemm_shape_cost sc[8];
    long dropped = -1;
    int n = pd_gemm_costs_shapes(sc, 8, &dropped);
    assert_int_equal(n, 4);
    assert_int_equal(dropped, 0);
    assert_int_equal(st.calls, 3 + 1 + 2 + team);
    assert_true(sc[0].shape.M == N && sc[0].shape.N == N && sc[0].shape.K == N);
    assert_true(!sc[0].shape.trans_a && sc[0].shape.trans_b && !sc[0].shape.in_parallel);
    assert_int_equal(sc[0].calls, 3);
    assert_true(sc[0].seconds >= sc[1].seconds && sc[1].seconds >= sc[2].seconds &&
                sc[2].seconds >= sc[3].seconds);
    long calls[3] = {0}; /* TN, NN, NN in a region */
    for (int i = 1; i < 4; i++) {
        assert_true(sc[i].shape.M == 2 && sc[i].shape.N == 3 && sc[i].shape.K == 4);
        assert_false(sc[i].shape.trans_b);
        calls[sc[i].shape.trans_a ? 0 : sc[i].shape.in_parallel ? 2 : 1] += sc[i].calls;
    }
    assert_int_equal(calls[0], 1);
    assert_int_equal(calls[1], 2);
    assert_int_equal(calls[2], team);
    assert_int_equal(pd_gemm_costs_shapes(sc, 1, NULL), 1); /* capped */
    assert_int_equal(sc[0].calls, 3);
    free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rmsnorm_modulate_matches_composed),
        cmocka_unit_test(layernorm_modulate_matches_composed),
        cmocka_unit_test(qkv_heads_matches_composed),
        cmocka_unit_test(fused_ops_refuse_bad_shapes),
        cmocka_unit_test(overwrite_ops_with_a_repeated_input),
        cmocka_unit_test(gemm_row_split_matches_one_call),
        cmocka_unit_test(gemm_k_split_matches_one_call),
        cmocka_unit_test(gemm_skinny_matches_one_call),
        cmocka_unit_test(gemm_wgrad_matches_one_call),
        cmocka_unit_test(linear_bias_paths),
        cmocka_unit_test(gemm_costs_by_shape),
    };
    return cmocka_run_group_tests_name("fused", tests, NULL, NULL);
}
