/* Core runtime: arena reuse, tape, sticky errors, bad-input messages,
 * free cores. */
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"
#include "ctx_internal.h" /* internal: pd_ctx_profile_scope */

static void test_arena_is_reused_after_warmup(void **state) {
    (void)state;
    pd_ctx *ctx = pd_ctx_new(1 << 16); /* small so the first step must grow */
    int shape[2] = {256, 256};
    for (int step = 0; step < 4; step++) {
        for (int i = 0; i < 8; i++) assert_non_null(pd_tensor_zeros(ctx, shape, 2));
        if (step == 1) {
            size_t peak = pd_ctx_peak(ctx);
            assert_true(peak >= 8u * 256 * 256 * 4);
        }
        pd_ctx_reset(ctx);
    }
    assert_int_equal(pd_ctx_used(ctx), 0);
    pd_ctx_free(ctx);
}

/* `bench --profile`'s parts: an op's forward and its backward count for
 * the part it was recorded in (a plugin's forward), whatever part is
 * active when backward runs; the rest is the trunk's. */
static double part_ms(const char *text, const char *label, int col) {
    const char *at = strstr(text, label);
    if (!at) fail_msg("no line '%s' in:\n%s", label, text);
    double v[3] = {-1, -1, -1};
    if (sscanf(at + strlen(label), "%lf %lf %lf", &v[0], &v[1], &v[2]) < 2)
        fail_msg("unreadable line: %s", at);
    return v[col]; /* part lines: fwd, bwd; op lines: fwd, calls, bwd */
}

static void test_profile_parts_follow_recording_scope(void **state) {
    (void)state;
    pd_params *p = pd_params_new();
    int ws[2] = {256, 256};
    pd_tensor *w = pd_params_add(p, "w", ws, 2, 0);
    tu_fill(w->data, 256 * 256, 1);
    pd_ctx *ctx = pd_ctx_new(0);
    pd_ctx_set_profile(ctx, true);
    static float xv[256 * 256];
    tu_fill(xv, 256 * 256, 2);
    pd_tensor *x = pd_tensor_from(ctx, xv, ws, 2);
    static const char label[] = "decoder plugin test_head";
    const char *outer = pd_ctx_profile_scope(ctx, label);
    assert_null(outer);
    pd_tensor *y = pd_linear(ctx, x, w, NULL); /* 256^3: the part's time */
    assert_ptr_equal(pd_ctx_profile_scope(ctx, outer), label);
    pd_tensor *loss = pd_sum(ctx, y); /* tiny: the trunk's */
    assert_int_equal(pd_backward(ctx, loss), PD_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    pd_ctx_profile_print(ctx, f);
    fclose(f);
    print_message("%s", text);
    /* the part's times are linear's (forward and backward), the trunk's are
     * sum's: each line reads the same accumulated seconds */
    const char *trunk = "outside plugins (JiT trunk)";
    assert_true(part_ms(text, label, 0) > 0 && part_ms(text, label, 1) > 0);
    assert_true(part_ms(text, label, 0) == part_ms(text, "\nlinear", 0));
    assert_true(part_ms(text, label, 1) == part_ms(text, "\nlinear", 2));
    assert_true(part_ms(text, trunk, 0) == part_ms(text, "\nsum", 0));
    assert_true(part_ms(text, trunk, 1) == part_ms(text, "\nsum", 2));
    free(text);
    pd_ctx_free(ctx);
    pd_params_free(p);
}

static void test_backward_linear_chain(void **state) {
    (void)state;
    pd_params *p = pd_params_new();
    int ws[2] = {3, 2};
    pd_tensor *w = pd_params_add(p, "w", ws, 2, 0);
    for (int i = 0; i < 6; i++) w->data[i] = (float)(i + 1); /* w = [[1,2],[3,4],[5,6]] */
    pd_ctx *ctx = pd_ctx_new(0);
    float xv[2] = {1, -1};
    int xs[2] = {1, 2};
    pd_tensor *x = pd_tensor_from(ctx, xv, xs, 2);
    pd_tensor *y = pd_linear(ctx, x, w, NULL); /* (1,3) = [-1, -1, -1] */
    pd_tensor *loss = pd_sum(ctx, y);
    assert_float_equal(loss->data[0], -3.0f, 0);
    assert_int_equal(pd_backward(ctx, loss), PD_OK);
    /* dL/dw[o][i] = x[i] */
    for (int o = 0; o < 3; o++) {
        assert_float_equal(w->grad[o * 2 + 0], 1.0f, 0);
        assert_float_equal(w->grad[o * 2 + 1], -1.0f, 0);
    }
    /* backward twice in one step is refused */
    assert_int_equal(pd_backward(ctx, loss), PD_ERR_STATE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "already run");
    pd_ctx_free(ctx);
    pd_params_free(p);
}

static void test_shape_error_names_op_and_shapes(void **state) {
    (void)state;
    pd_ctx *ctx = pd_ctx_new(0);
    int as[2] = {4, 5}, ws[2] = {3, 6};
    pd_tensor *a = pd_tensor_zeros(ctx, as, 2), *w = pd_tensor_zeros(ctx, ws, 2);
    assert_null(pd_linear(ctx, a, w, NULL));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_SHAPE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "linear");
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(4, 5)");
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(3, 6)");
    /* sticky: later ops return NULL and keep the first message */
    assert_null(pd_add(ctx, a, a));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "linear");
    pd_ctx_reset(ctx);
    assert_int_equal(pd_ctx_status(ctx), PD_OK);
    int bs[2] = {4, 3};
    pd_tensor *b = pd_tensor_zeros(ctx, bs, 2), *c = pd_tensor_zeros(ctx, as, 2);
    assert_null(pd_add(ctx, b, c));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "do not broadcast");
    pd_ctx_free(ctx);
}

static void test_use_after_reset_is_detected(void **state) {
    (void)state;
    pd_ctx *ctx = pd_ctx_new(0);
    int s[1] = {4};
    pd_tensor *a = pd_tensor_zeros(ctx, s, 1);
    pd_ctx_reset(ctx);
    assert_null(pd_add(ctx, a, a));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_STATE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "freed");
    pd_ctx_free(ctx);
}

static void test_backward_needs_scalar_and_tape(void **state) {
    (void)state;
    pd_params *p = pd_params_new();
    int s[1] = {3};
    pd_tensor *w = pd_params_add(p, "w", s, 1, 0);
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *y = pd_mul(ctx, w, w);
    assert_int_equal(pd_backward(ctx, y), PD_ERR_SHAPE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(3,)");
    pd_ctx_reset(ctx);
    /* no-grad mode records nothing, so there is nothing to differentiate */
    pd_ctx_set_grad_enabled(ctx, false);
    pd_tensor *l = pd_sum(ctx, pd_mul(ctx, w, w));
    assert_non_null(l);
    assert_null(l->node);
    assert_int_equal(pd_backward(ctx, l), PD_ERR_STATE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "not recorded");
    pd_ctx_free(ctx);
    pd_params_free(p);
}

static void test_params_names(void **state) {
    (void)state;
    pd_params *p = pd_params_new();
    int s[2] = {2, 2};
    assert_non_null(pd_params_add(p, "blocks.0.attn.qkv.weight", s, 2, 0));
    assert_null(pd_params_add(p, "blocks.0.attn.qkv.weight", s, 2, 0));
    TU_ASSERT_CONTAINS(pd_last_error(), "duplicate");
    assert_null(pd_params_add(p, "bad name", s, 2, 0));
    assert_non_null(pd_params_add(p, "x.bias", s, 1, 0));
    assert_non_null(pd_params_add(p, "pos_embed", s, 2, PD_PARAM_FROZEN));
    assert_true(pd_params_decays(p, 0));
    assert_false(pd_params_decays(p, 1));
    assert_false(pd_params_decays(p, 2));
    assert_null(pd_params_find(p, "pos_embed")->grad);
    assert_int_equal(pd_params_numel(p, true), 6);
    pd_params_free(p);
}

static void test_rng_reproducible(void **state) {
    (void)state;
    pd_rng a, b;
    pd_rng_seed(&a, 42);
    pd_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) assert_true(pd_rng_u64(&a) == pd_rng_u64(&b));
    double m = 0, v = 0;
    for (int i = 0; i < 100000; i++) {
        double x = pd_rng_normal(&a);
        m += x;
        v += x * x;
    }
    m /= 100000;
    v = v / 100000 - m * m;
    assert_true(fabs(m) < 0.02 && fabs(v - 1) < 0.02);
}

/* The one list of generic OpenBLAS kernels (pixeldit and bench_linear). */
static void test_blas_generic_cores(void **state) {
    (void)state;
    const char *generic[] = {"Prescott", "Core2", "Nehalem", "Atom", "Katmai", "Unknown", "unknown"};
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
        assert_true(pd_blas_core_is_generic(generic[i]));
    const char *fast[] = {"SkylakeX", "Haswell", "Zen", "Sandybridge", "Cooperlake", ""};
    for (size_t i = 0; i < sizeof fast / sizeof fast[0]; i++)
        assert_false(pd_blas_core_is_generic(fast[i]));
    assert_false(pd_blas_core_is_generic(NULL));
    /* only ever a better kernel, and only when the one in use is generic */
    const char *better = pd_blas_better_core();
    if (better) {
        assert_true(pd_blas_core_is_generic(pd_blas_corename()));
        assert_false(pd_blas_core_is_generic(better));
    }
}

/* pd_free_cores: within [1, allowed cores] always, and 1 while as many
 * busy processes at our priority as there are cores run beside us (other
 * tests may load the machine too, so only that bound is certain). */
static void test_free_cores(void **state) {
    (void)state;
    cpu_set_t set;
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    int allowed = CPU_COUNT(&set), free_now = pd_free_cores();
    assert_true(free_now >= 1 && free_now <= allowed);
    if (sysconf(_SC_NPROCESSORS_ONLN) != allowed) return; /* taskset: other cores exist */
    pid_t kids[64];
    int n = allowed < 64 ? allowed : 64;
    for (int i = 0; i < n; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            alarm(20); /* never outlive a crashed parent */
            for (volatile unsigned long k = 0;; k++) {}
        }
    }
    nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    int busy = pd_free_cores();
    for (int i = 0; i < n; i++) kill(kids[i], SIGKILL), waitpid(kids[i], NULL, 0);
    print_message("  free cores: %d quiet-ish, %d beside %d busy processes\n", free_now, busy, n);
    assert_int_equal(busy, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_is_reused_after_warmup),
        cmocka_unit_test(test_backward_linear_chain),
        cmocka_unit_test(test_profile_parts_follow_recording_scope),
        cmocka_unit_test(test_shape_error_names_op_and_shapes),
        cmocka_unit_test(test_use_after_reset_is_detected),
        cmocka_unit_test(test_backward_needs_scalar_and_tape),
        cmocka_unit_test(test_params_names),
        cmocka_unit_test(test_rng_reproducible),
        cmocka_unit_test(test_blas_generic_cores),
        cmocka_unit_test(test_free_cores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
