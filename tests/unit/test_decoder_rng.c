/* pd_decoder_inputs.rng (ABI 1.1): the host hands the decoder the training
 * stream in training and NULL otherwise, so decoder noise is reproducible
 * from the stream's state (which checkpoints save). Uses the test plugins
 * noisy_decoder (adds N(0, 1) from in->rng) and good_attention, whose
 * paths come as arguments. */
#include "test_util.h"
#include "pixeldit/jit.h"
#include "pixeldit/plugin_host.h"

static int g_argc;
static char **g_argv;

static pd_plugin *load(const char *name, pd_plugin_kind kind) {
    char want[128];
    snprintf(want, sizeof want, "/%s.so", name);
    for (int i = 1; i < g_argc; i++) {
        size_t n = strlen(g_argv[i]), m = strlen(want);
        if (n >= m && strcmp(g_argv[i] + n - m, want) == 0) {
            pd_plugin *pl = NULL;
            if (pd_plugin_load(g_argv[i], kind, &pl)) fail_msg("%s", pd_last_error());
            return pl;
        }
    }
    fail_msg("test plugin %s.so not among the arguments", name);
    return NULL;
}

enum { B = 2, C = 1, S = 8, NPIX = B * C * S * S };

/* x_pred of a fixed batch, copied out; rng as pd_jit_forward takes it. */
static void run(pd_jit *m, bool training, pd_rng *rng, float *out) {
    pd_ctx *ctx = pd_ctx_new(0);
    pd_ctx_set_training(ctx, training);
    float z[NPIX], t[B] = {0.3f, 0.8f};
    int labels[B] = {1, 10};
    tu_fill(z, NPIX, 7);
    pd_tensor *x = pd_jit_forward(m, ctx, pd_tensor_from(ctx, z, (int[]){B, C, S, S}, 4), t, labels,
                                  rng);
    if (!x) fail_msg("%s", pd_ctx_error(ctx));
    memcpy(out, x->data, sizeof(float) * NPIX);
    pd_ctx_free(ctx);
}

static void test_decoder_rng(void **state) {
    (void)state;
    pd_jit_plugins plugins = {.decoder = load("noisy_decoder", PD_PLUGIN_DECODER),
                              .attention = load("good_attention", PD_PLUGIN_ATTENTION)};
    pd_jit_config cfg = {.image_size = S, .channels = C, .patch_size = 4, .hidden_size = 16,
                         .depth = 2, .num_heads = 2, .bottleneck_dim = 8, .mlp_ratio = 4.0f,
                         .num_classes = 10, .t_eps = 0.05f, .noise_scale = 1.0f};
    pd_jit *m = NULL;
    if (pd_jit_create(&cfg, &plugins, &m)) fail_msg("%s", pd_last_error());
    assert_int_equal(pd_jit_init_weights(m, 3), PD_OK);

    static float eval[NPIX], eval_rng[NPIX], tr1[NPIX], tr2[NPIX], tr_null[NPIX], noise[NPIX];
    pd_rng r, before;
    pd_rng_seed(&r, 5);
    before = r;
    run(m, false, NULL, eval);
    run(m, false, &r, eval_rng); /* not training: the decoder gets NULL, nothing drawn */
    assert_memory_equal(eval, eval_rng, sizeof eval);
    assert_memory_equal(&r, &before, sizeof r);

    run(m, true, &r, tr1); /* training (no dropout): the decoder draws NPIX normals */
    assert_memory_not_equal(&r, &before, sizeof r);
    pd_rng ref = before;
    pd_rng_fill_normal(&ref, noise, NPIX, 0.0f, 1.0f);
    assert_memory_equal(&r, &ref, sizeof r); /* the same stream, advanced as far */
    for (int i = 0; i < NPIX; i++)
        if (fabsf(tr1[i] - eval[i] - noise[i]) > 1e-5f)
            fail_msg("x_pred[%d]: training %g - eval %g != noise %g", i, tr1[i], eval[i], noise[i]);

    r = before; /* a resumed run restores the state: the same draws */
    run(m, true, &r, tr2);
    assert_memory_equal(tr1, tr2, sizeof tr1);

    run(m, true, NULL, tr_null); /* training without a stream: decoder sees NULL */
    assert_memory_equal(tr_null, eval, sizeof eval);
    pd_jit_free(m);
    pd_plugins_unload_all();
}

int main(int argc, char **argv) {
    g_argc = argc, g_argv = argv;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_decoder_rng)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
