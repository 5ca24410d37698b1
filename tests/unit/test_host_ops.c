/* The ops appended to the host table in ABI 1.1: each member is the ops.h
 * function of the same meaning, inside the table's struct_size, and a call
 * through the table (as a plugin makes it) gives that op's result. */
#include "test_util.h"
#include "pixeldit/plugin_host.h"

#define MEMBER_END(m) (offsetof(pd_host_api, m) + sizeof(((pd_host_api *)0)->m))

static void test_abi11_members(void **state) {
    (void)state;
    const pd_host_api *h = pd_host_api_get();
    assert_true(h->struct_size >= MEMBER_END(conv2d_grouped));
    /* appended after the 1.0 table, in this order */
    assert_true(offsetof(pd_host_api, sqrt) > offsetof(pd_host_api, mse));
    assert_true(h->sqrt == pd_sqrt && h->abs == pd_abs && h->exp == pd_exp && h->ln == pd_log);
    assert_true(h->tanh == pd_tanh && h->sigmoid == pd_sigmoid && h->clamp == pd_clamp);
    assert_true(h->pow == pd_pow && h->pixel_shuffle == pd_pixel_shuffle);
    assert_true(h->pixel_unshuffle == pd_pixel_unshuffle);
    assert_true(h->upsample_nearest == pd_upsample_nearest && h->conv2d_grouped == pd_conv2d_grouped);
}

/* ABI 1.2: the fused norm + modulate pair, composed when fused kernels are off */
static void test_abi12_norm_modulate(void **state) {
    (void)state;
    const pd_host_api *h = pd_host_api_get();
    assert_true(h->abi_minor >= 2 && h->struct_size >= MEMBER_END(layernorm_modulate));
    assert_true(offsetof(pd_host_api, rmsnorm_modulate) > offsetof(pd_host_api, conv2d_grouped));
    for (int fused = 0; fused < 2; fused++) {
        pd_ctx *ctx = pd_ctx_new(1 << 20);
        pd_ctx_set_fused(ctx, fused);
        pd_tensor *x = h->tensor_from(ctx, (float[]){1, 2, 3, 4, -1, 0, 1, 5}, (int[]){2, 4}, 2);
        pd_tensor *sc = h->tensor_from(ctx, (float[]){0.5f, -0.5f, 1, 0, 0, 0, 2, 1}, (int[]){2, 4}, 2);
        pd_tensor *sh = h->tensor_from(ctx, (float[]){1, 1, 1, 1, 0, 0, 0, 0}, (int[]){2, 4}, 2);
        pd_tensor *y[2] = {h->rmsnorm_modulate(ctx, x, NULL, sh, sc, 1e-6f),
                           h->layernorm_modulate(ctx, x, NULL, NULL, sh, sc, 1e-6f)};
        pd_tensor *ref[2] = {h->modulate(ctx, h->rmsnorm(ctx, x, NULL, 1e-6f), sh, sc),
                             h->modulate(ctx, h->layernorm(ctx, x, NULL, NULL, 1e-6f), sh, sc)};
        for (int k = 0; k < 2; k++) {
            assert_non_null(y[k]);
            for (int i = 0; i < 8; i++) assert_true(fabsf(y[k]->data[i] - ref[k]->data[i]) < 1e-5f);
        }
        pd_ctx_free(ctx);
    }
}

static void test_calls_through_table(void **state) {
    (void)state;
    const pd_host_api *h = pd_host_api_get();
    pd_ctx *ctx = pd_ctx_new(1 << 20);
    pd_tensor *x = h->tensor_from(ctx, (float[]){4.0f, 0.25f}, (int[]){2}, 1);
    pd_tensor *y = h->ln(ctx, h->pow(ctx, h->sqrt(ctx, x), 2.0f)); /* log(x) */
    assert_non_null(y);
    assert_true(fabsf(y->data[0] - logf(4.0f)) < 1e-6f && fabsf(y->data[1] - logf(0.25f)) < 1e-6f);
    pd_tensor *img = h->tensor_zeros(ctx, (int[]){1, 4, 3, 3}, 4);
    pd_tensor *w = h->tensor_zeros(ctx, (int[]){8, 1, 3, 3}, 4); /* depthwise, multiplier 2 */
    pd_tensor *c = h->conv2d_grouped(ctx, img, w, NULL, 1, 1, 4);
    pd_tensor *u = h->pixel_shuffle(ctx, h->upsample_nearest(ctx, c, 2, 2), 2);
    assert_non_null(u);
    assert_memory_equal(u->shape, ((int[]){1, 2, 12, 12}), 4 * sizeof(int));
    pd_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi11_members),
        cmocka_unit_test(test_calls_through_table),
        cmocka_unit_test(test_abi12_norm_modulate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
