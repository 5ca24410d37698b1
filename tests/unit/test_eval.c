/* Evaluation (core/eval): the cross-entropy op's gradient, Frechet distance
 * against scipy goldens (tests/golden/fd, make_fd_goldens.py), its zero and
 * its growth under a known shift, class accuracy, the patch-grid score on
 * real images, white noise and unpatchified random patches, and the feature
 * network: learns a learnable task, trains deterministically for a seed,
 * round-trips through safetensors, refuses a file for other data. */
#include <unistd.h>

#include "eval/eval_internal.h"
#include "pixeldit/data.h"
#include "pixeldit/safetensors.h"
#include "test_util.h"

/* ---- cross-entropy -------------------------------------------------------- */

static const int xent_labels[5] = {0, 3, 1, 3, 2};

static pd_tensor *xent_fn(pd_ctx *ctx, pd_tensor *const *in, int n, void *user) {
    (void)n, (void)user;
    return pd_eval_cross_entropy(ctx, in[0], xent_labels);
}

static void test_cross_entropy_gradcheck(void **state) {
    (void)state;
    float z[5 * 4];
    tu_fill(z, 20, 7);
    for (int i = 0; i < 20; i++) z[i] *= 3;
    pd_gradcheck_input in = {z, (int[]){5, 4}, 2, true};
    pd_gradcheck_opts o = pd_gradcheck_defaults();
    o.max_checks = -1;
    TU_GRADCHECK(xent_fn, NULL, &in, 1, &o);
}

static void test_cross_entropy_values(void **state) {
    (void)state;
    pd_ctx *ctx = pd_ctx_new(0);
    /* equal logits: log K; one confident right row: ~0 */
    float z[2 * 4] = {0, 0, 0, 0, 0, 0, 0, 0};
    pd_tensor *l = pd_eval_cross_entropy(ctx, pd_tensor_from(ctx, z, (int[]){2, 4}, 2), (int[]){1, 2});
    assert_non_null(l);
    assert_float_equal(l->data[0], logf(4), 1e-6);
    float z2[4] = {50, 0, 0, 0};
    l = pd_eval_cross_entropy(ctx, pd_tensor_from(ctx, z2, (int[]){1, 4}, 2), (int[]){0});
    assert_true(l->data[0] < 1e-6f);
    l = pd_eval_cross_entropy(ctx, pd_tensor_from(ctx, z2, (int[]){1, 4}, 2), (int[]){4});
    assert_null(l);
    assert_non_null(strstr(pd_ctx_error(ctx), "label 4"));
    pd_ctx_free(ctx);
}

/* ---- Frechet distance ------------------------------------------------------- */

static double fd_of(const float *a, long na, const float *b, long nb, int d) {
    pd_gauss_stats sa, sb;
    double fd = -1;
    assert_int_equal(pd_gauss_stats_compute(a, na, d, &sa), PD_OK);
    assert_int_equal(pd_gauss_stats_compute(b, nb, d, &sb), PD_OK);
    assert_int_equal(pd_frechet_distance(&sa, &sb, &fd), PD_OK);
    pd_gauss_stats_free(&sa);
    pd_gauss_stats_free(&sb);
    return fd;
}

static void test_fd_goldens(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/fd/fd_goldens.safetensors", getenv("PIXELDIT_TEST_DIR"));
    pd_st_file *f;
    assert_int_equal(pd_st_open(path, &f), PD_OK);
    const char *cases[] = {"d8", "d32", "d64"};
    for (int c = 0; c < 3; c++) {
        char name[32];
        snprintf(name, sizeof name, "%s.a", cases[c]);
        const pd_st_tensor *ta = pd_st_find(f, name);
        snprintf(name, sizeof name, "%s.b", cases[c]);
        const pd_st_tensor *tb = pd_st_find(f, name);
        snprintf(name, sizeof name, "%s.fd", cases[c]);
        const pd_st_tensor *tf = pd_st_find(f, name);
        assert_non_null(ta), assert_non_null(tb), assert_non_null(tf);
        assert_int_equal(tf->dtype, PD_ST_F64);
        double want;
        memcpy(&want, tf->data, sizeof want);
        int d = ta->shape[1];
        double got = fd_of(ta->data, ta->shape[0], tb->data, tb->shape[0], d);
        print_message("  FD %s: %.10f (scipy %.10f)\n", cases[c], got, want);
        assert_true(fabs(got - want) <= 1e-7 * fabs(want) + 1e-9);
    }
    pd_st_close(f);
}

/* KID and precision/recall against numpy's direct formulas
 * (tests/golden/make_kid_pr_goldens.py). KID sums n^2 kernel values in
 * double: relative 1e-9; precision and recall are fractions of points,
 * equal exactly (no point of the random cases lies within rounding of a
 * ball's edge). */
static void test_kid_pr_goldens(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/kid_pr/kid_pr_goldens.safetensors", getenv("PIXELDIT_TEST_DIR"));
    pd_st_file *f;
    assert_int_equal(pd_st_open(path, &f), PD_OK);
    const char *cases[] = {"d8", "d32", "d16k5"};
    for (int c = 0; c < 3; c++) {
        const pd_st_tensor *t[6];
        const char *part[6] = {"x", "y", "kid", "precision", "recall", "k"};
        for (int i = 0; i < 6; i++) {
            char name[32];
            snprintf(name, sizeof name, "%s.%s", cases[c], part[i]);
            assert_non_null(t[i] = pd_st_find(f, name));
        }
        double want[3];
        for (int i = 0; i < 3; i++) memcpy(&want[i], t[2 + i]->data, sizeof(double));
        int32_t k;
        memcpy(&k, t[5]->data, sizeof k);
        long n = t[0]->shape[0], m = t[1]->shape[0];
        int d = t[0]->shape[1];
        double kid = 0, yy = 0, kid2 = 0, prec = -1, rec = -1;
        assert_int_equal(pd_kid(t[0]->data, n, t[1]->data, m, d, &kid), PD_OK);
        assert_int_equal(pd_kid_self_sum(t[1]->data, m, d, &yy), PD_OK);
        assert_int_equal(pd_kid_with_ref(t[0]->data, n, t[1]->data, m, d, yy, &kid2), PD_OK);
        assert_int_equal(pd_precision_recall(t[1]->data, m, t[0]->data, n, d, k, &prec, &rec), PD_OK);
        print_message("  %s: KID %.10g (numpy %.10g), precision %.4f (%.4f), recall %.4f (%.4f)\n", cases[c], kid,
                      want[0], prec, want[1], rec, want[2]);
        assert_true(fabs(kid - want[0]) <= 1e-9 * fabs(want[0]) + 1e-12);
        assert_true(kid2 == kid);
        assert_true(fabs(prec - want[1]) < 1e-12 && fabs(rec - want[2]) < 1e-12);
    }
    pd_st_close(f);
    /* arguments out of range are refused, not read past */
    float x[8] = {0};
    double v;
    assert_int_equal(pd_kid(x, 1, x, 4, 2, &v), PD_ERR_ARG);
    assert_int_equal(pd_precision_recall(x, 3, x, 3, 2, 3, &v, &v), PD_ERR_ARG);
}

static void test_fd_zero_and_shift(void **state) {
    (void)state;
    enum { N = 300, D = 16 };
    float *a = malloc(N * D * sizeof(float)), *b = malloc(N * D * sizeof(float));
    tu_fill(a, N * D, 3);
    for (int i = 0; i < N * D; i++) a[i] += 0.5f * a[(i + 1) % (N * D)]; /* some correlation */
    assert_true(fd_of(a, N, a, N, D) < 1e-9);
    /* every feature shifted by c: the covariances are unchanged, FD = D c^2 */
    double last = 0;
    for (int k = 1; k <= 3; k++) {
        float c = 0.25f * k;
        for (int i = 0; i < N * D; i++) b[i] = a[i] + c;
        double fd = fd_of(a, N, b, N, D);
        assert_true(fabs(fd - D * (double)c * c) < 1e-5 * D * c * c);
        assert_true(fd > last);
        last = fd;
    }
    /* scaled features (another covariance) are not at distance 0 */
    for (int i = 0; i < N * D; i++) b[i] = 1.5f * a[i];
    assert_true(fd_of(a, N, b, N, D) > 0.01);
    pd_gauss_stats s;
    assert_int_equal(pd_gauss_stats_compute(a, 1, D, &s), PD_ERR_ARG);
    free(a), free(b);
}

static void test_class_accuracy(void **state) {
    (void)state;
    float z[3 * 3] = {1, 0, 0, 0, 0, 2, 0, 3, 0};
    assert_float_equal(pd_class_accuracy(z, (int[]){0, 2, 1}, 3, 3), 1.0, 1e-12);
    assert_float_equal(pd_class_accuracy(z, (int[]){0, 1, 1}, 3, 3), 2.0 / 3, 1e-12);
}

/* ---- patch-grid score ------------------------------------------------------------- */

static void test_grid_score_real_images(void **state) {
    (void)state;
    pd_dataset_opts o = {.image_size = 32, .channels = 1, .fit = PD_FIT_PAD};
    pd_dataset *ds;
    assert_int_equal(pd_dataset_load_fashion_mnist(NULL, false, &o, &ds), PD_OK);
    enum { N = 1000 };
    float *x = malloc((size_t)N * 32 * 32 * sizeof(float));
    int idx[N];
    for (int i = 0; i < N; i++) idx[i] = i;
    assert_int_equal(pd_dataset_batch(ds, idx, N, NULL, x, NULL), PD_OK);
    double s;
    assert_int_equal(pd_patch_grid_score(x, N, 1, 32, 32, 4, &s), PD_OK);
    print_message("  grid score of %d real test images (32 px, p 4): %.4f\n", N, s);
    assert_true(s > 0.8 && s < 1.2);
    /* the same images with one random pattern added to every 4x4 patch (a
     * linear head's bias): well above */
    float bias[16];
    tu_fill(bias, 16, 5);
    for (int i = 0; i < N; i++)
        for (int y = 0; y < 32; y++)
            for (int xx = 0; xx < 32; xx++) x[(size_t)i * 1024 + y * 32 + xx] += 0.2f * bias[(y % 4) * 4 + xx % 4];
    double s2;
    assert_int_equal(pd_patch_grid_score(x, N, 1, 32, 32, 4, &s2), PD_OK);
    print_message("  with a shared 4x4 pattern of amplitude 0.2: %.4f\n", s2);
    assert_true(s2 > 2 * s);
    free(x);
    pd_dataset_free(ds);
}

static void test_grid_score_noise_and_patches(void **state) {
    (void)state;
    enum { N = 64, S = 32, P = 4, G = S / P, D = 8 };
    /* white noise: a flat spectrum, so about 1 */
    float *x = malloc((size_t)N * S * S * sizeof(float));
    tu_fill(x, (size_t)N * S * S, 9);
    double s;
    assert_int_equal(pd_patch_grid_score(x, N, 1, S, S, P, &s), PD_OK);
    print_message("  white noise: %.4f\n", s);
    assert_true(s > 0.9 && s < 1.1);
    /* a plain unpatchify of random patches: tokens = W h + b, a random
     * linear head over smoothly varying token features h */
    float W[P * P * D], b[P * P], phase[D];
    tu_fill(W, P * P * D, 11);
    tu_fill(b, P * P, 12);
    tu_fill(phase, D, 13);
    pd_ctx *ctx = pd_ctx_new(0);
    float *tok = malloc((size_t)N * G * G * P * P * sizeof(float));
    for (int n = 0; n < N; n++)
        for (int gy = 0; gy < G; gy++)
            for (int gx = 0; gx < G; gx++) {
                float h[D];
                for (int k = 0; k < D; k++)
                    h[k] = cosf(0.4f * (k % 3 + 1) * gy + 0.3f * (k % 2 + 1) * gx + 3 * phase[k] + 0.7f * n);
                float *t = tok + (((size_t)n * G + gy) * G + gx) * P * P;
                for (int j = 0; j < P * P; j++) {
                    t[j] = b[j];
                    for (int k = 0; k < D; k++) t[j] += W[j * D + k] * h[k] / D;
                }
            }
    pd_tensor *img = pd_unpatchify(ctx, pd_tensor_from(ctx, tok, (int[]){N, G * G, P * P}, 3), 1, S, S, P,
                                   PD_PATCH_JIT);
    assert_non_null(img);
    assert_int_equal(pd_patch_grid_score(img->data, N, 1, S, S, P, &s), PD_OK);
    print_message("  unpatchified random linear-head patches: %.4f\n", s);
    assert_true(s > 3);
    assert_int_equal(pd_patch_grid_score(img->data, N, 1, S, S, 3, &s), PD_ERR_ARG);
    assert_int_equal(pd_patch_grid_score(img->data, N, 1, S, S, 32, &s), PD_ERR_ARG);
    pd_ctx_free(ctx);
    free(tok), free(x);
}

/* ---- feature network ---------------------------------------------------------------- */

/* 4 classes of 16x16 images: a bright 6x6 square in quadrant `label`, on noise. */
static pd_dataset *blob_dataset(int n, uint64_t seed) {
    pd_dataset *ds = calloc(1, sizeof *ds);
    ds->n = n, ds->channels = 1, ds->size = 16, ds->num_classes = 4;
    ds->pixels = malloc((size_t)n * 256);
    ds->labels = malloc((size_t)n * sizeof(int));
    ds->class_names = NULL;
    pd_rng r;
    pd_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int c = (int)pd_rng_below(&r, 4);
        ds->labels[i] = c;
        for (int p = 0; p < 256; p++) {
            int y = p / 16, x = p % 16, oy = (c / 2) * 8 + 1, ox = (c % 2) * 8 + 1;
            bool in = y >= oy && y < oy + 6 && x >= ox && x < ox + 6;
            ds->pixels[(size_t)i * 256 + p] = (uint8_t)(pd_rng_below(&r, 100) + (in ? 120 : 0));
        }
    }
    return ds;
}

static void free_blob(pd_dataset *ds) {
    free(ds->pixels), free(ds->labels), free(ds);
}

static pd_featnet *train_blobs(const pd_dataset *train, const pd_dataset *test, uint64_t seed, double *acc) {
    pd_featnet_key key;
    pd_featnet_key_of(train, "blobs", &key);
    pd_featnet *net = pd_featnet_new(&key, seed);
    assert_non_null(net);
    pd_featnet_train_opts o = pd_featnet_train_defaults();
    o.epochs = 2, o.batch = 32, o.seed = seed, o.lr = 3e-3;
    assert_int_equal(pd_featnet_train(net, train, test, &o, acc), PD_OK);
    return net;
}

static void features_of(pd_featnet *net, const pd_dataset *ds, float *f) {
    float x[8 * 256];
    int idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    assert_int_equal(pd_dataset_batch(ds, idx, 8, NULL, x, NULL), PD_OK);
    assert_int_equal(pd_featnet_apply(net, x, 8, f, NULL), PD_OK);
}

static void test_featnet_learns_and_is_deterministic(void **state) {
    (void)state;
    pd_dataset *train = blob_dataset(512, 1), *test = blob_dataset(200, 2);
    double acc1, acc2, acc3;
    pd_featnet *a = train_blobs(train, test, 7, &acc1), *b = train_blobs(train, test, 7, &acc2);
    pd_featnet *c = train_blobs(train, test, 8, &acc3);
    print_message("  blob test accuracy %.3f (seed 7), %.3f (seed 8)\n", acc1, acc3);
    assert_true(acc1 > 0.95);
    assert_true(acc1 == acc2);
    float fa[8 * PD_FEATNET_DIM], fb[8 * PD_FEATNET_DIM], fc[8 * PD_FEATNET_DIM];
    features_of(a, test, fa), features_of(b, test, fb), features_of(c, test, fc);
    assert_memory_equal(fa, fb, sizeof fa);
    assert_true(memcmp(fa, fc, sizeof fa) != 0);

    /* save, load with the right key: the same features; a different key: refused */
    char path[] = "/tmp/pixeldit-test-featnet-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pd_featnet_save(a, path, acc1), PD_OK);
    pd_featnet *l = NULL;
    double acc_l;
    assert_int_equal(pd_featnet_load(path, pd_featnet_get_key(a), &l, &acc_l), PD_OK);
    assert_float_equal(acc_l, acc1, 1e-6);
    float fl[8 * PD_FEATNET_DIM];
    features_of(l, test, fl);
    assert_memory_equal(fa, fl, sizeof fa);
    pd_featnet_free(l);
    pd_featnet_key other = *pd_featnet_get_key(a);
    other.data_hash ^= 1;
    assert_int_equal(pd_featnet_load(path, &other, &l, NULL), PD_ERR_FORMAT);
    assert_null(l);
    assert_non_null(strstr(pd_last_error(), "--train-features"));
    other = *pd_featnet_get_key(a);
    other.size = 32;
    assert_int_equal(pd_featnet_load(path, &other, &l, NULL), PD_ERR_FORMAT);
    /* a file that is not a feature network */
    pd_st_writer *w = pd_st_writer_new();
    float one = 1;
    pd_st_writer_add(w, "conv1.weight", PD_ST_F32, (int[]){1}, 1, &one);
    assert_int_equal(pd_st_writer_write(w, path), PD_OK);
    pd_st_writer_free(w);
    assert_int_equal(pd_featnet_load(path, pd_featnet_get_key(a), &l, NULL), PD_ERR_FORMAT);
    assert_non_null(strstr(pd_last_error(), "not a feature network"));
    unlink(path);
    pd_featnet_free(a), pd_featnet_free(b), pd_featnet_free(c);
    free_blob(train), free_blob(test);
}

static void test_featnet_cache_path(void **state) {
    (void)state;
    pd_featnet_key k = {.dataset = "my data/../x", .size = 32};
    char buf[1024];
    setenv("XDG_CACHE_HOME", "/tmp/pd-cache-test", 1);
    assert_int_equal(pd_featnet_cache_path(&k, buf, sizeof buf, false), PD_OK);
    assert_string_equal(buf, "/tmp/pd-cache-test/pixeldit/featnet-my_data____x-32px.safetensors");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(pd_featnet_cache_path(&k, buf, sizeof buf, false), PD_OK);
    assert_string_equal(buf, "/home/u/.cache/pixeldit/featnet-my_data____x-32px.safetensors");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_entropy_gradcheck),
        cmocka_unit_test(test_cross_entropy_values),
        cmocka_unit_test(test_fd_goldens),
        cmocka_unit_test(test_kid_pr_goldens),
        cmocka_unit_test(test_fd_zero_and_shift),
        cmocka_unit_test(test_class_accuracy),
        cmocka_unit_test(test_grid_score_real_images),
        cmocka_unit_test(test_grid_score_noise_and_patches),
        cmocka_unit_test(test_featnet_learns_and_is_deterministic),
        cmocka_unit_test(test_featnet_cache_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
