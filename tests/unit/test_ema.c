/* EMA warm-up ([train] ema_warmup) against a PyTorch reference
 * (tests/golden/make_ema_goldens.py): the decay of each update, and the
 * EMA trajectory of a parameter vector over 60 updates for three decays;
 * also the share of initial weights the young-EMA note reports. */
#include "test_util.h"
#include "pixeldit/safetensors.h"
#include "pixeldit/train.h"

static const pd_st_tensor *need(pd_st_file *f, const char *name, pd_st_dtype dt) {
    const pd_st_tensor *t = pd_st_find(f, name);
    if (!t || t->dtype != dt) fail_msg("golden tensor %s missing or of the wrong type", name);
    return t;
}

static void test_warmup_matches_reference(void **state) {
    (void)state;
    const char *dir = getenv("PIXELDIT_TEST_DIR");
    if (!dir) fail_msg("PIXELDIT_TEST_DIR is not set (run through meson test)");
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/ema/ema_warmup.safetensors", dir);
    pd_st_file *f;
    if (pd_st_open(path, &f)) fail_msg("%s", pd_last_error());
    const pd_st_tensor *init = need(f, "init", PD_ST_F32), *w = need(f, "w", PD_ST_F32);
    const pd_st_tensor *decays = need(f, "decays", PD_ST_F64), *gammas = need(f, "gammas", PD_ST_F64);
    const pd_st_tensor *decay_t = need(f, "decay_t", PD_ST_F32), *out = need(f, "out", PD_ST_F32);
    int T = w->shape[0], K = w->shape[1], D = (int)decays->numel, G = (int)gammas->numel;
    assert_int_equal(init->numel, K);
    assert_int_equal(out->numel, (size_t)G * D * T * K);
    const float *w0 = init->data, *ws = w->data, *dt = decay_t->data, *ref = out->data;
    /* F64 data after F32 tensors need not be 8-byte aligned: copy it. */
    double ds[8], gs[8];
    assert_true(D <= 8 && G <= 8);
    memcpy(ds, decays->data, (size_t)D * sizeof(double));
    memcpy(gs, gammas->data, (size_t)G * sizeof(double));

    pd_params *p = pd_params_new();
    pd_tensor *param = pd_params_add(p, "w", (int[]){K}, 1, 0);
    assert_non_null(param);
    double worst = 0;
    for (int gi = 0; gi < G; gi++)
    for (int i = 0; i < D; i++) {
        const float *dt_g = dt + (size_t)gi * D * T, *ref_g = ref + (size_t)gi * D * T * K;
        memcpy(param->data, w0, (size_t)K * sizeof(float));
        pd_ema *e = pd_ema_new(p, (float)ds[i]);
        assert_non_null(e);
        for (int t = 0; t < T; t++) {
            float d = pd_ema_warmup_decay((float)ds[i], gs[gi], t);
            /* The same float32 decay as the reference, bit for bit. */
            if (d != dt_g[i * T + t])
                fail_msg("gamma %g, decay %g, update %d: %.9g, reference %.9g", gs[gi], ds[i], t,
                         (double)d, (double)dt_g[i * T + t]);
            memcpy(param->data, ws + (size_t)t * K, (size_t)K * sizeof(float));
            pd_ema_update_with(e, d);
            const float *got = pd_ema_data(e, 0), *want = ref_g + ((size_t)i * T + t) * K;
            for (int k = 0; k < K; k++) {
                double err = fabs((double)got[k] - want[k]);
                if (err > worst) worst = err;
                if (err > 1e-6 + 1e-6 * fabs(want[k]))
                    fail_msg("decay %g, update %d, [%d]: %.9g, reference %.9g", ds[i], t, k,
                             (double)got[k], (double)want[k]);
            }
        }
        pd_ema_free(e);
    }
    print_message("  worst |ema - reference| %.3g over %d gammas x %d decays x %d updates\n", worst,
                  G, D, T);
    /* Past the warm-up the decay is the configured one; the first update uses 1 / gamma. */
    assert_true(pd_ema_warmup_decay(0.5f, 10, 1000) == 0.5f);
    assert_true(pd_ema_warmup_decay(0.9999f, 10, 0) == 0.1f);
    assert_true(pd_ema_warmup_decay(0.9999f, 40, 0) == 0.025f);
    pd_params_free(p);
    pd_st_close(f);
}

static void test_initial_share(void **state) {
    (void)state;
    const double decays[] = {0.998, 0.9, 0.5};
    const long long steps[] = {0, 1, 5, 100, 449, 5000};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 6; j++) {
            for (int warm = 0; warm < 3; warm++) {
                double gamma = (double[]){0, 10, 40}[warm], want = 1;
                for (long long t = 0; t < steps[j]; t++) {
                    double d = decays[i], r = (1.0 + (double)t) / (gamma + (double)t);
                    want *= warm && r < d ? r : d;
                }
                double got = pd_ema_initial_share(decays[i], gamma, steps[j]);
                if (fabs(got - want) > 1e-12 + 1e-9 * want)
                    fail_msg("share(%g, gamma %g, %lld) = %.12g, expected %.12g", decays[i],
                             gamma, steps[j], got, want);
            }
        }
    /* The case: 449 steps at 0.998 left 41% without the warm-up. */
    assert_true(fabs(pd_ema_initial_share(0.998, 0, 449) - 0.407) < 0.001);
    assert_true(pd_ema_initial_share(0.998, 10, 449) < 1e-6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warmup_matches_reference),
        cmocka_unit_test(test_initial_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
