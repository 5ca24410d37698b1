/* Finite-difference gradient checks: linear, matmul, broadcasting
 * elementwise ops, affine, modulate, gated residual, reductions, MSE. */
#include "test_util.h"


/* ---- linear / matmul ------------------------------------------------------- */

static pd_tensor *f_linear(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u;
    return pd_linear(ctx, x[0], x[1], n > 2 ? x[2] : NULL);
}

static void test_linear(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(2, 3, 5), SHAPE(7, 5), SHAPE(7)}, .ndims = {3, 2, 1}, .n = 3};
    case_init(&c, 1);
    TU_GRADCHECK(f_linear, NULL, c.in, 3, NULL);
    TU_GRADCHECK(f_linear, NULL, c.in, 2, NULL); /* no bias */
    case_free(&c);
}

static int g_trans;
static pd_tensor *f_matmul(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_matmul(ctx, x[0], x[1], g_trans);
}

static void test_matmul(void **state) {
    (void)state;
    for (g_trans = 0; g_trans < 4; g_trans++) {
        int M = 3, K = 5, N = 4;
        bool ta = g_trans & PD_TRANS_A, tb = g_trans & PD_TRANS_B;
        gc_case c = {.ndims = {4, 4}, .n = 2};
        int as[4] = {2, 3, ta ? K : M, ta ? M : K}, bs[4] = {2, 3, tb ? N : K, tb ? K : N};
        memcpy(c.shapes[0], as, sizeof as);
        memcpy(c.shapes[1], bs, sizeof bs);
        case_init(&c, 10 + (uint64_t)g_trans);
        TU_GRADCHECK(f_matmul, NULL, c.in, 2, NULL);
        case_free(&c);
        /* shared 2-D right operand */
        gc_case s = {.ndims = {3, 2}, .n = 2};
        int as3[3] = {2, ta ? K : M, ta ? M : K}, bs2[2] = {tb ? N : K, tb ? K : N};
        memcpy(s.shapes[0], as3, sizeof as3);
        memcpy(s.shapes[1], bs2, sizeof bs2);
        case_init(&s, 20 + (uint64_t)g_trans);
        TU_GRADCHECK(f_matmul, NULL, s.in, 2, NULL);
        case_free(&s);
    }
}

/* ---- broadcasting elementwise ------------------------------------------------ */

static pd_tensor *(*g_bin)(pd_ctx *, pd_tensor *, pd_tensor *);
static pd_tensor *f_bin(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return g_bin(ctx, x[0], x[1]);
}

static void test_binary_broadcast(void **state) {
    (void)state;
    pd_tensor *(*ops[4])(pd_ctx *, pd_tensor *, pd_tensor *) = {pd_add, pd_sub, pd_mul, pd_div};
    for (int k = 0; k < 4; k++) {
        g_bin = ops[k];
        gc_case same = {.shapes = {SHAPE(3, 5), SHAPE(3, 5)}, .ndims = {2, 2}, .n = 2};
        gc_case bc = {.shapes = {SHAPE(2, 3, 5), SHAPE(3, 1)}, .ndims = {3, 2}, .n = 2};
        gc_case bc2 = {.shapes = {SHAPE(2, 1, 5), SHAPE(1, 3, 1)}, .ndims = {3, 3}, .n = 2};
        /* fast paths: b repeats over leading dims (x + pos_embed) or is a
         * per-sample scalar (x * s[:, None, None]) */
        gc_case trail = {.shapes = {SHAPE(2, 3, 5), SHAPE(1, 3, 5)}, .ndims = {3, 3}, .n = 2};
        gc_case lead = {.shapes = {SHAPE(2, 3, 5), SHAPE(2, 1, 1)}, .ndims = {3, 3}, .n = 2};
        /* threaded: the halves split a row (trail) and a block (lead) */
        gc_case big = {.shapes = {SHAPE(5, 90, 100), SHAPE(90, 100)}, .ndims = {3, 2}, .n = 2};
        gc_case biglead = {.shapes = {SHAPE(3, 110, 100), SHAPE(3, 1, 1)}, .ndims = {3, 3}, .n = 2};
        gc_case *cs[7] = {&same, &bc, &bc2, &trail, &lead, &big, &biglead};
        for (int j = 0; j < 7; j++) {
            case_init(cs[j], 100 + (uint64_t)(k * 7 + j));
            if (k == 3) /* keep divisors away from 0 */
                for (size_t i = 0; i < pd_shape_numel(cs[j]->shapes[1], cs[j]->ndims[1]); i++)
                    cs[j]->bufs[1][i] = 1.5f + cs[j]->bufs[1][i] * 0.5f;
            TU_GRADCHECK(f_bin, NULL, cs[j]->in, 2, NULL);
            case_free(cs[j]);
        }
    }
}

static pd_tensor *f_affine(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_affine(ctx, x[0], -1.7f, 0.3f);
}

static void test_affine(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(4, 3)}, .ndims = {2}, .n = 1};
    case_init(&c, 5);
    TU_GRADCHECK(f_affine, NULL, c.in, 1, NULL);
    case_free(&c);
}

/* ---- modulate / gated residual -------------------------------------------------- */

static pd_tensor *f_modulate(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u;
    return pd_modulate(ctx, x[0], n > 2 ? x[2] : NULL, x[1]);
}

static pd_tensor *f_gated(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_gated_residual(ctx, x[0], x[1], x[2]);
}

static void test_modulate_and_gate(void **state) {
    (void)state;
    gc_case per_sample = {.shapes = {SHAPE(2, 5, 3), SHAPE(2, 3), SHAPE(2, 3)}, .ndims = {3, 2, 2}, .n = 3};
    gc_case per_pixel = {.shapes = {SHAPE(3, 4, 5), SHAPE(3, 4, 5), SHAPE(3, 4, 5)}, .ndims = {3, 3, 3}, .n = 3};
    case_init(&per_sample, 30);
    case_init(&per_pixel, 40);
    TU_GRADCHECK(f_modulate, NULL, per_sample.in, 3, NULL);
    TU_GRADCHECK(f_modulate, NULL, per_sample.in, 2, NULL); /* no shift */
    TU_GRADCHECK(f_modulate, NULL, per_pixel.in, 3, NULL);
    case_free(&per_sample);
    case_free(&per_pixel);
    gc_case g1 = {.shapes = {SHAPE(2, 5, 3), SHAPE(2, 3), SHAPE(2, 5, 3)}, .ndims = {3, 2, 3}, .n = 3};
    gc_case g2 = {.shapes = {SHAPE(2, 5, 3), SHAPE(2, 5, 3), SHAPE(2, 5, 3)}, .ndims = {3, 3, 3}, .n = 3};
    case_init(&g1, 50);
    case_init(&g2, 60);
    TU_GRADCHECK(f_gated, NULL, g1.in, 3, NULL);
    TU_GRADCHECK(f_gated, NULL, g2.in, 3, NULL);
    case_free(&g1);
    case_free(&g2);
}

/* ---- reductions, mse ------------------------------------------------------------- */

static int g_axis;
static pd_tensor *f_sum(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) { (void)u, (void)n; return pd_sum(ctx, x[0]); }
static pd_tensor *f_mean(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) { (void)u, (void)n; return pd_mean(ctx, x[0]); }
static pd_tensor *f_sum_axis(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) { (void)u, (void)n; return pd_sum_axis(ctx, x[0], g_axis); }
static pd_tensor *f_mean_axis(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) { (void)u, (void)n; return pd_mean_axis(ctx, x[0], g_axis); }
static pd_tensor *f_mse(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) { (void)u, (void)n; return pd_mse(ctx, x[0], x[1]); }

static void test_reductions(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(3, 4, 5), SHAPE(3, 4, 5)}, .ndims = {3, 3}, .n = 2};
    case_init(&c, 70);
    TU_GRADCHECK(f_sum, NULL, c.in, 1, NULL);
    TU_GRADCHECK(f_mean, NULL, c.in, 1, NULL);
    for (g_axis = -3; g_axis < 3; g_axis++) {
        TU_GRADCHECK(f_sum_axis, NULL, c.in, 1, NULL);
        TU_GRADCHECK(f_mean_axis, NULL, c.in, 1, NULL);
    }
    TU_GRADCHECK(f_mse, NULL, c.in, 2, NULL);
    case_free(&c);
}

/* A gradcheck that must fail: a deliberately wrong backward is caught. */
static pd_status wrong_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n, void *a) {
    (void)ctx, (void)n, (void)a;
    for (size_t i = 0; i < y->numel; i++) y->data[i] = in[0]->data[i] * in[0]->data[i];
    return PD_OK;
}
static pd_status wrong_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n, void *a) {
    (void)ctx, (void)n, (void)a;
    for (size_t i = 0; i < y->numel; i++) in[0]->grad[i] += y->grad[i] * in[0]->data[i]; /* missing 2x */
    return PD_OK;
}
static const pd_op_def wrong_op = {"square_wrong", wrong_fwd, wrong_bwd};
static pd_tensor *f_wrong(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_op_apply(ctx, &wrong_op, x, 1, x[0]->shape, x[0]->ndim, NULL, 0);
}

static void test_gradcheck_catches_wrong_backward(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(6)}, .ndims = {1}, .n = 1};
    case_init(&c, 80);
    assert_int_equal(pd_gradcheck(f_wrong, NULL, c.in, 1, NULL, NULL), PD_ERR_NUMERIC);
    TU_ASSERT_CONTAINS(pd_last_error(), "analytic");
    case_free(&c);
}

/* A backward that stores (=) where it must add (+=): right whenever its
 * input has one consumer, so only the second-consumer pass catches it. */
static pd_status store_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n, void *a) {
    (void)ctx, (void)n, (void)a;
    for (size_t i = 0; i < y->numel; i++) in[0]->grad[i] = 2 * y->grad[i] * in[0]->data[i];
    return PD_OK;
}
static const pd_op_def store_op = {"square_store", wrong_fwd, store_bwd};
static pd_tensor *f_store(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u, (void)n;
    return pd_op_apply(ctx, &store_op, x, 1, x[0]->shape, x[0]->ndim, NULL, 0);
}

static void test_gradcheck_catches_store_instead_of_add(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(3, 5)}, .ndims = {2}, .n = 1};
    case_init(&c, 81);
    assert_int_equal(pd_gradcheck(f_store, NULL, c.in, 1, NULL, NULL), PD_ERR_NUMERIC);
    TU_ASSERT_CONTAINS(pd_last_error(), "second consumer");
    TU_ASSERT_CONTAINS(pd_last_error(), "15 of 15 entries wrong");
    case_free(&c);
}

/* Gradients of about 1e-3 (y = 1e-3 * x^2): the old absolute-only rule
 * (atol 1e-3) let the missing 2x pass; the tolerance now follows the
 * tensor's gradient scale. The error counts every entry that exceeded and
 * max_err_out reports the worst even on failure. */
static pd_tensor *f_small_wrong(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    return pd_affine(ctx, f_wrong(ctx, x, n, u), 1e-3f, 0.0f);
}

static pd_tensor *f_small_right(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return pd_affine(ctx, pd_mul(ctx, x[0], x[0]), 1e-3f, 0.0f);
}

static void test_gradcheck_scale_and_counts(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(40)}, .ndims = {1}, .n = 1};
    case_init(&c, 82);
    pd_gradcheck_opts o = pd_gradcheck_defaults();
    o.max_checks = 8;
    double worst = 0;
    assert_int_equal(pd_gradcheck(f_small_wrong, NULL, c.in, 1, &o, &worst), PD_ERR_NUMERIC);
    TU_ASSERT_CONTAINS(pd_last_error(), "of 8 checked entries exceed the tolerance; worst [");
    assert_true(worst > 1);
    /* the same function with its derivative right passes at that scale */
    assert_int_equal(pd_gradcheck(f_small_right, NULL, c.in, 1, &o, &worst), PD_OK);
    assert_true(worst <= 1);
    case_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_binary_broadcast),
        cmocka_unit_test(test_affine),
        cmocka_unit_test(test_modulate_and_gate),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_gradcheck_catches_wrong_backward),
        cmocka_unit_test(test_gradcheck_catches_store_instead_of_add),
        cmocka_unit_test(test_gradcheck_scale_and_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
