/* The one-process side of data-parallel training (pixeldit/dist.h): how a
 * global batch is split, per-sample randomness that does not depend on the
 * split, and the flat gradient buffer. The multi-process runs are
 * tests/e2e/mpi.sh (under mpirun). */
#include "test_util.h"
#include "dist/dist_internal.h"
#include "pixeldit/dist.h"
#include "pixeldit/train.h"

/* Every sample of the global batch belongs to exactly one rank, in rank
 * order, and shard sizes differ by at most one. */
static void test_shards_cover_the_batch(void **state) {
    (void)state;
    for (int global = 1; global <= 40; global++)
        for (int size = 1; size <= global && size <= 9; size++) {
            int next = 0, lo = global, hi = 0;
            for (int r = 0; r < size; r++) {
                int first, count;
                pd_dist_shard(global, r, size, &first, &count);
                assert_int_equal(first, next);
                next += count;
                if (count < lo) lo = count;
                if (count > hi) hi = count;
            }
            assert_int_equal(next, global);
            assert_true(lo >= 1 && hi - lo <= 1);
        }
}

/* pd_rng_derive: a pure function of its inputs that does not advance the
 * key; neighbouring indices, steps and streams give different draws. */
static void test_derive_is_pure(void **state) {
    (void)state;
    pd_rng key, a, b;
    pd_rng_seed(&key, 42);
    pd_rng copy = key;
    pd_rng_derive(&a, &key, 7, 3, PD_RNG_STREAM_DIFFUSION);
    pd_rng_derive(&b, &key, 7, 3, PD_RNG_STREAM_DIFFUSION);
    assert_memory_equal(&a, &b, sizeof a);
    assert_memory_equal(&key, &copy, sizeof key);
    uint64_t first = pd_rng_u64(&a);
    pd_rng_derive(&b, &key, 7, 4, PD_RNG_STREAM_DIFFUSION);
    assert_true(pd_rng_u64(&b) != first);
    pd_rng_derive(&b, &key, 8, 3, PD_RNG_STREAM_DIFFUSION);
    assert_true(pd_rng_u64(&b) != first);
    pd_rng_derive(&b, &key, 7, 3, PD_RNG_STREAM_HFLIP);
    assert_true(pd_rng_u64(&b) != first);
}

/* The batch drawn whole equals the batch drawn as shards of 3, 3 and 2:
 * t, noise and label drop are functions of (key, step, global index). */
static void test_noise_independent_of_split(void **state) {
    (void)state;
    enum { B = 8, PER = 12 };
    pd_diffusion_config dc = {.P_mean = -0.8f, .P_std = 0.8f, .noise_scale = 1.0f, .t_eps = 0.05f,
                              .label_drop_prob = 0.5f, .num_classes = 10};
    float x[B * PER], t1[B], z1[B * PER], t2[B], z2[B * PER];
    int y[B], d1[B], d2[B];
    for (int i = 0; i < B * PER; i++) x[i] = (float)i / (B * PER) - 0.5f;
    for (int b = 0; b < B; b++) y[b] = b;
    pd_rng key;
    pd_rng_seed(&key, 2);
    pd_diffusion_noise_at(&dc, &key, 5, 0, x, B, PER, y, t1, z1, d1);
    for (int r = 0; r < 3; r++) {
        int first, count;
        pd_dist_shard(B, r, 3, &first, &count);
        pd_diffusion_noise_at(&dc, &key, 5, first, x + first * PER, count, PER, y + first, t2 + first,
                              z2 + first * PER, d2 + first);
    }
    assert_memory_equal(t1, t2, sizeof t1);
    assert_memory_equal(z1, z2, sizeof z1);
    assert_memory_equal(d1, d2, sizeof d1);
    int dropped = 0;
    for (int b = 0; b < B; b++) dropped += d1[b] == 10;
    assert_true(dropped > 0 && dropped < B); /* p = 0.5 over 8 samples, this seed */
    pd_diffusion_noise_at(&dc, &key, 6, 0, x, B, PER, y, t2, z2, d2);
    assert_true(memcmp(t1, t2, sizeof t1) != 0); /* another step, other draws */
}

/* One rank: the gradient buffer round trip scales every trainable gradient
 * by the rank's weight, skips frozen tensors and carries the scalars. */
static void test_grad_sync_one_rank(void **state) {
    (void)state;
    pd_params *p = pd_params_new();
    pd_tensor *w = pd_params_add(p, "w", (int[]){2, 3}, 2, 0);
    pd_tensor *pos = pd_params_add(p, "pos_embed", (int[]){4}, 1, PD_PARAM_FROZEN);
    pd_tensor *bias = pd_params_add(p, "b", (int[]){3}, 1, 0);
    assert_non_null(w), assert_non_null(pos), assert_non_null(bias);
    for (int i = 0; i < 6; i++) w->grad[i] = (float)i;
    for (int i = 0; i < 3; i++) bias->grad[i] = -(float)i;
    pd_grad_sync g;
    assert_int_equal(pd_grad_sync_open(&g, p, 2), PD_OK);
    assert_int_equal(g.n_grad, 9);
    float sc[2] = {1.5f, 1.0f};
    assert_int_equal(pd_grad_sync_run(&g, p, 0.5f, sc, 2), PD_OK);
    for (int i = 0; i < 6; i++) assert_float_equal(w->grad[i], 0.5f * i, 0);
    for (int i = 0; i < 3; i++) assert_float_equal(bias->grad[i], -0.5f * i, 0);
    assert_float_equal(sc[0], 1.5f, 0);
    assert_int_equal(pd_grad_sync_run(&g, p, 1.0f, sc, 3), PD_ERR_ARG); /* not the size it was made for */
    pd_grad_sync_close(&g);
    pd_params_free(p);
}

/* Without a launcher (as here) there is one rank and every call is the
 * identity, with or without MPI built in. */
static void test_one_rank_without_launcher(void **state) {
    (void)state;
    int argc = 1;
    char *args[] = {"test_dist", NULL}, **argv = args;
    assert_int_equal(pd_dist_init(&argc, &argv), PD_OK);
    assert_int_equal(pd_dist_rank(), 0);
    assert_int_equal(pd_dist_size(), 1);
    float v[3] = {1, 2, 3};
    assert_int_equal(pd_dist_sum_f32(v, 3), PD_OK);
    assert_float_equal(v[2], 3, 0);
    assert_true(pd_dist_any(true));
    assert_false(pd_dist_any(false));
    assert_non_null(pd_dist_library());
    assert_int_equal(pd_dist_end(3), 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shards_cover_the_batch),
        cmocka_unit_test(test_derive_is_pure),
        cmocka_unit_test(test_noise_independent_of_split),
        cmocka_unit_test(test_grad_sync_one_rank),
        cmocka_unit_test(test_one_rank_without_launcher),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
