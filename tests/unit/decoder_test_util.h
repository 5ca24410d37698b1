/* Shared by the decoder plugin tests that load one decoder .so through the
 * plugin loader: open/close a decoder with "key=value" settings, and read
 * PyTorch goldens from tests/golden/DECODER_GOLDEN_DIR/. Define
 * DECODER_GOLDEN_DIR ("deco") and TOL_GRAD before including; set
 * g_plugin_path (the .so) in main. Header-only, like test_util.h. */
#ifndef PD_DECODER_TEST_UTIL_H
#define PD_DECODER_TEST_UTIL_H

#include "pixeldit/plugin_host.h"
#include "pixeldit/safetensors.h"
#include "test_util.h"

static const char *g_plugin_path;

static pd_plugin *plugin(void) {
    pd_plugin *pl = NULL;
    if (pd_plugin_load(g_plugin_path, PD_PLUGIN_DECODER, &pl)) fail_msg("%s", pd_last_error());
    return pl;
}

/* The trunk a decoder sees: image_size^2 x C images in p x p patches, width
 * D in `heads` heads (model_info: one head, for decoders without attention). */
static inline pd_model_info model_info_heads(int image_size, int C, int p, int D, int heads) {
    pd_model_info m = {sizeof m, image_size, C, p, image_size / p,
                       (image_size / p) * (image_size / p), D, heads, D / heads, 1, 10, 0.05f,
                       1.0f};
    return m;
}

static inline pd_model_info model_info(int image_size, int C, int p, int D) {
    return model_info_heads(image_size, C, p, D, 1);
}

typedef struct decoder {
    const pd_decoder_vtable *vt;
    void *state;
    pd_params *params;
    pd_model_info info;
} decoder;

/* Creates the decoder with "key=value" settings; returns the status and
 * leaves the message in pd_last_error() on failure. */
static pd_status decoder_open(decoder *d, pd_model_info info, const char *const *kv, int n) {
    pd_plugin *pl = plugin();
    pd_plugin_setting set[10];
    char buf[10][64];
    assert_true(n <= 10);
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "%s", kv[i]);
        char *eq = strchr(buf[i], '=');
        assert_non_null(eq);
        *eq = 0;
        set[i] = (pd_plugin_setting){buf[i], eq + 1, "test", 0};
    }
    pd_plugin_config *cfg = NULL;
    pd_status s = pd_plugin_config_build(pl, "decoder", set, n, &cfg);
    if (s) return s;
    *d = (decoder){pd_plugin_decoder_vtable(pl), NULL, pd_params_new(), info};
    s = pd_plugin_create_decoder(pl, &info, cfg, d->params, &d->state);
    pd_plugin_config_free(cfg);
    if (s) pd_params_free(d->params), d->params = NULL;
    return s;
}

static void decoder_close(decoder *d) {
    if (d->state) d->vt->destroy(d->state);
    pd_params_free(d->params);
}

/* Expects decoder_open to fail with a message containing part1 (and part2
 * unless NULL). Inline: not every decoder test has config errors. */
static inline void expect_create_error(pd_model_info info, const char *const *kv, int n,
                                       const char *part1, const char *part2) {
    decoder d;
    pd_status s = decoder_open(&d, info, kv, n);
    if (s == PD_OK) {
        decoder_close(&d);
        fail_msg("expected an error containing '%s'", part1);
    }
    TU_ASSERT_CONTAINS(pd_last_error(), part1);
    if (part2) TU_ASSERT_CONTAINS(pd_last_error(), part2);
    print_message("  refused: %s\n", pd_last_error());
}

/* ---- goldens ------------------------------------------------------------------------- */

static pd_st_file *open_golden(const char *file) {
    const char *dir = getenv("PIXELDIT_TEST_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/" DECODER_GOLDEN_DIR "/%s", dir ? dir : "tests", file);
    pd_st_file *f = NULL;
    if (pd_st_open(path, &f)) fail_msg("%s (PIXELDIT_TEST_DIR = %s)", pd_last_error(), dir ? dir : "unset");
    return f;
}

static const char *meta(const pd_st_file *f, const char *key) {
    const char *v = pd_st_metadata(f, key);
    if (!v) fail_msg("%s: metadata '%s' missing", pd_st_path(f), key);
    return v;
}

static int meta_int(const pd_st_file *f, const char *key) { return atoi(meta(f, key)); }

static pd_tensor *golden_tensor(pd_ctx *ctx, const pd_st_file *f, const char *name, const int *shape,
                                int ndim, bool grad) {
    pd_tensor *t = pd_tensor_empty(ctx, shape, ndim);
    assert_non_null(t);
    if (pd_st_read_f32(f, name, t->data, shape, ndim)) fail_msg("%s", pd_last_error());
    if (grad) assert_int_equal(pd_tensor_set_requires_grad(ctx, t), PD_OK);
    return t;
}

static double expect_golden(const pd_st_file *f, const char *key, const int *shape, int ndim,
                            const float *got, double tol) {
    size_t n = pd_shape_numel(shape, ndim);
    float *want = malloc(n * sizeof(float));
    assert_non_null(want);
    if (pd_st_read_f32(f, key, want, shape, ndim)) fail_msg("%s", pd_last_error());
    double e = expect_close(key, got, want, n, tol);
    free(want);
    return e;
}

static double expect_grad(const pd_st_file *f, const char *name, const pd_tensor *t) {
    char key[160];
    snprintf(key, sizeof key, "grad.%s", name);
    return expect_golden(f, key, t->shape, t->ndim, t->grad, TOL_GRAD);
}

/* The golden backward: sum(out * gy) back through the decoder, then every
 * parameter's gradient against "grad.NAME" (NAME without "decoder.");
 * returns the worst error. Inline: not every decoder test has goldens. */
static inline double golden_backward_params(pd_ctx *ctx, const decoder *d, const pd_st_file *f,
                                            pd_tensor *out, pd_tensor *gy) {
    if (pd_backward(ctx, pd_sum(ctx, pd_mul(ctx, out, gy)))) fail_msg("%s", pd_ctx_error(ctx));
    double e = 0;
    for (int i = 0; i < pd_params_count(d->params); i++) {
        pd_tensor *p = pd_params_at(d->params, i);
        e = fmax(e, expect_grad(f, p->name + 8, p));
    }
    return e;
}

/* Creates the decoder of a golden case from the weight file's metadata
 * (image_size, channels, patch_size, hidden_size, and num_heads where the
 * file has it) and the case's keys, and loads every golden weight into
 * it: the file must hold exactly the plugin's parameters, named without
 * the "decoder." prefix. */
static void decoder_open_golden(decoder *d, const char *name, const pd_st_file *w,
                                const char *const *kv, int n) {
    const char *heads = pd_st_metadata(w, "num_heads");
    pd_model_info info = model_info_heads(meta_int(w, "image_size"), meta_int(w, "channels"),
                                          meta_int(w, "patch_size"), meta_int(w, "hidden_size"),
                                          heads ? atoi(heads) : 1);
    if (decoder_open(d, info, kv, n)) fail_msg("%s: %s", name, pd_last_error());
    assert_int_equal(pd_params_count(d->params), pd_st_count(w));
    assert_int_equal((long)pd_params_numel(d->params, true), meta_int(w, "params"));
    for (int i = 0; i < pd_params_count(d->params); i++) {
        pd_tensor *p = pd_params_at(d->params, i);
        assert_int_equal(strncmp(p->name, "decoder.", 8), 0);
        if (pd_st_read_f32(w, p->name + 8, p->data, p->shape, p->ndim)) fail_msg("%s", pd_last_error());
    }
}

/* Opens golden case NAME (NAME.weights.safetensors, NAME.data.safetensors)
 * and creates its decoder with key=value settings read from the weight
 * file's metadata, one per name in `keys` (at most 10), then loads the
 * weights (decoder_open_golden). Inline: used by the golden tests only. */
static inline void open_golden_case(const char *name, const char *const *keys, int n, decoder *d,
                                    pd_st_file **weights, pd_st_file **data) {
    char file[128];
    snprintf(file, sizeof file, "%s.weights.safetensors", name);
    pd_st_file *w = *weights = open_golden(file);
    snprintf(file, sizeof file, "%s.data.safetensors", name);
    *data = open_golden(file);
    char kv[10][64];
    const char *set[10];
    assert_true(n <= 10);
    for (int i = 0; i < n; i++) {
        const char *v = meta(w, keys[i]); /* fails the test when missing */
        snprintf(kv[i], sizeof kv[i], "%s=%s", keys[i], v ? v : "");
        set[i] = kv[i];
    }
    decoder_open_golden(d, name, w, set, n);
}

/* main() of a decoder test: argv[1] is the plugin's .so; one thread (the
 * goldens' tolerances assume one summation order); unloads the plugins
 * after the tests so that LSan sees no leak. */
static inline int decoder_test_main(int argc, char **argv, const char *so_name,
                                    const struct CMUnitTest *tests, size_t n) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/%s\n", argv[0], so_name);
        return 2;
    }
    g_plugin_path = argv[1];
    pd_set_num_threads(1);
    int failed = _cmocka_run_group_tests(so_name, tests, n, NULL, NULL);
    pd_plugins_unload_all();
    return failed;
}

#endif
