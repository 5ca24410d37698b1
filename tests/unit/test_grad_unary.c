/* Elementwise maths (sqrt, abs, exp, log, tanh, sigmoid, clamp, pow):
 * finite-difference gradient checks away from the kinks and domain edges,
 * then the documented values at those edges (ops.h). */
#include "test_util.h"

typedef struct {
    int kind;  /* index into the table below */
    float a, b;
} unary_arg;

enum { K_SQRT, K_ABS, K_EXP, K_LOG, K_TANH, K_SIGMOID, K_CLAMP, K_POW };

static pd_tensor *apply(pd_ctx *ctx, pd_tensor *x, const unary_arg *u) {
    switch (u->kind) {
    case K_SQRT: return pd_sqrt(ctx, x);
    case K_ABS: return pd_abs(ctx, x);
    case K_EXP: return pd_exp(ctx, x);
    case K_LOG: return pd_log(ctx, x);
    case K_TANH: return pd_tanh(ctx, x);
    case K_SIGMOID: return pd_sigmoid(ctx, x);
    case K_CLAMP: return pd_clamp(ctx, x, u->a, u->b);
    default: return pd_pow(ctx, x, u->a);
    }
}

static pd_tensor *f_unary(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n;
    return apply(ctx, x[0], u);
}

/* Moves v at least `gap` away from the point k (a kink or a domain edge). */
static float away(float v, float k, float gap) {
    if (fabsf(v - k) >= gap) return v;
    return v < k ? k - gap - (k - v) : k + gap + (v - k);
}

static void check(const unary_arg *u, float lo, float hi, uint64_t seed) {
    gc_case c = {.shapes = {SHAPE(3, 4, 5)}, .ndims = {3}, .n = 1};
    case_init(&c, seed);
    for (size_t i = 0; i < 60; i++) {
        float v = lo + (c.bufs[0][i] + 1.0f) * 0.5f * (hi - lo); /* [-1, 1) -> [lo, hi) */
        if (u->kind == K_ABS) v = away(v, 0.0f, 0.05f);
        if (u->kind == K_CLAMP) v = away(away(v, u->a, 0.05f), u->b, 0.05f);
        c.bufs[0][i] = v;
    }
    TU_GRADCHECK(f_unary, (void *)u, c.in, 1, NULL);
    case_free(&c);
}

static void test_unary_grads(void **state) {
    (void)state;
    check(&(unary_arg){.kind = K_SQRT}, 0.3f, 2.0f, 1);
    check(&(unary_arg){.kind = K_ABS}, -2.0f, 2.0f, 2);
    check(&(unary_arg){.kind = K_EXP}, -2.0f, 2.0f, 3);
    check(&(unary_arg){.kind = K_LOG}, 0.3f, 3.0f, 4);
    check(&(unary_arg){.kind = K_TANH}, -3.0f, 3.0f, 5);
    check(&(unary_arg){.kind = K_SIGMOID}, -5.0f, 5.0f, 6);
    check(&(unary_arg){.kind = K_CLAMP, .a = -0.5f, .b = 0.7f}, -2.0f, 2.0f, 7);
    check(&(unary_arg){.kind = K_CLAMP, .a = -INFINITY, .b = 0.2f}, -2.0f, 2.0f, 8);
    check(&(unary_arg){.kind = K_POW, .a = 2.0f}, -2.0f, 2.0f, 9);
    check(&(unary_arg){.kind = K_POW, .a = 3.0f}, -1.5f, 1.5f, 10);   /* negative base, integer exponent */
    check(&(unary_arg){.kind = K_POW, .a = 0.5f}, 0.3f, 2.0f, 11);
    check(&(unary_arg){.kind = K_POW, .a = -1.5f}, 0.5f, 2.0f, 12);
    check(&(unary_arg){.kind = K_POW, .a = 2.7f}, 0.2f, 2.0f, 13);
    check(&(unary_arg){.kind = K_POW, .a = 0.0f}, -2.0f, 2.0f, 14);   /* constant 1: gradient 0 */
}

/* y = op(x) and dL/dx for L = sum(y) at the listed points, one op call. */
static void eval(const unary_arg *u, const float *x, int n, float *y, float *dx) {
    pd_ctx *ctx = pd_ctx_new(1 << 20);
    pd_tensor *t = pd_tensor_from(ctx, x, (int[]){n}, 1);
    assert_int_equal(pd_tensor_set_requires_grad(ctx, t), PD_OK);
    pd_tensor *out = apply(ctx, t, u);
    if (!out) fail_msg("%s", pd_ctx_error(ctx));
    assert_int_equal(pd_backward(ctx, pd_sum(ctx, out)), PD_OK);
    memcpy(y, out->data, (size_t)n * sizeof(float));
    memcpy(dx, t->grad, (size_t)n * sizeof(float));
    pd_ctx_free(ctx);
}

/* The domain edges behave as documented in ops.h (IEEE / torch). */
static void test_unary_edges(void **state) {
    (void)state;
    float y[4], d[4];
    eval(&(unary_arg){.kind = K_SQRT}, (float[]){-1.0f, 0.0f, 4.0f}, 3, y, d);
    assert_true(isnan(y[0]) && isnan(d[0]));
    assert_true(y[1] == 0.0f && isinf(d[1]) && d[1] > 0);
    assert_true(y[2] == 2.0f && d[2] == 0.25f);

    eval(&(unary_arg){.kind = K_LOG}, (float[]){-1.0f, 0.0f, 1.0f}, 3, y, d);
    assert_true(isnan(y[0]) && d[0] == -1.0f); /* the formula 1/x, as torch */
    assert_true(isinf(y[1]) && y[1] < 0 && isinf(d[1]) && d[1] > 0);
    assert_true(y[2] == 0.0f && d[2] == 1.0f);

    eval(&(unary_arg){.kind = K_POW, .a = 3.0f}, (float[]){-2.0f, 0.0f}, 2, y, d);
    assert_true(y[0] == -8.0f && d[0] == 12.0f && y[1] == 0.0f && d[1] == 0.0f);
    eval(&(unary_arg){.kind = K_POW, .a = 0.5f}, (float[]){-2.0f}, 1, y, d);
    assert_true(isnan(y[0]));
    eval(&(unary_arg){.kind = K_POW, .a = 0.0f}, (float[]){0.0f, -3.0f}, 2, y, d);
    assert_true(y[0] == 1.0f && y[1] == 1.0f && d[0] == 0.0f && d[1] == 0.0f);

    eval(&(unary_arg){.kind = K_ABS}, (float[]){0.0f, -3.0f}, 2, y, d);
    assert_true(y[0] == 0.0f && d[0] == 0.0f && y[1] == 3.0f && d[1] == -1.0f);

    /* closed interval: the bounds themselves pass the gradient; NaN stays */
    eval(&(unary_arg){.kind = K_CLAMP, .a = -1.0f, .b = 1.0f}, (float[]){-1.0f, 1.0f, 2.0f, NAN}, 4, y, d);
    assert_true(y[0] == -1.0f && d[0] == 1.0f && y[1] == 1.0f && d[1] == 1.0f);
    assert_true(y[2] == 1.0f && d[2] == 0.0f && isnan(y[3]));

    eval(&(unary_arg){.kind = K_SIGMOID}, (float[]){-100.0f, 100.0f}, 2, y, d);
    assert_true(y[0] == 0.0f && y[1] == 1.0f && d[0] == 0.0f && d[1] == 0.0f);

    /* refused arguments name the op */
    pd_ctx *ctx = pd_ctx_new(1 << 16);
    pd_tensor *x = pd_tensor_zeros(ctx, (int[]){2}, 1);
    assert_null(pd_clamp(ctx, x, 1.0f, -1.0f));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "clamp: bounds [1, -1]");
    pd_ctx_reset(ctx);
    x = pd_tensor_zeros(ctx, (int[]){2}, 1);
    assert_null(pd_clamp(ctx, x, NAN, 1.0f));
    pd_ctx_reset(ctx);
    x = pd_tensor_zeros(ctx, (int[]){2}, 1);
    assert_null(pd_pow(ctx, x, INFINITY));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "pow: exponent inf");
    pd_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_grads),
        cmocka_unit_test(test_unary_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
