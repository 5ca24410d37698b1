/* test_my_attention PATH/my_attention.so: an attention plugin's test, to
 * copy with your plugin. Loads the plugin the way pixeldit does, then checks
 *   1. the output contract: exactly q's shape (B, H, N, d), also when the
 *      keys are fewer or more than the queries (M != N), through the host's
 *      own checked call (pd_plugin_attention_forward);
 *   2. the values against exact attention (pd_sdpa), for an exact plugin
 *      (an approximate one: loosen MAX_DIFF, or compare with your reference);
 *   3. determinism: bit-identical reruns;
 *   4. gradients of q, k and v by finite differences (pd_gradcheck);
 *   5. flops(): positive and finite for each call's sizes.
 * Change PLUGIN, SETTINGS and MAX_DIFF below for your attention. Links
 * libpixeldit; the plugin itself does not. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pixeldit/gradcheck.h>
#include <pixeldit/ops.h>
#include <pixeldit/plugin_host.h>

#define PLUGIN "test_my_attention"
/* as if a config said `[attention] temperature = 1.0` (so the result is exact attention) */
static const pd_plugin_setting SETTINGS[] = {{"temperature", "1.0", "test", 0}};
#define MAX_DIFF 1e-5 /* largest |plugin - sdpa| allowed */

static const pd_model_info info = {
    .struct_size = sizeof info, .image_size = 8, .channels = 3, .patch_size = 4, .grid = 2,
    .num_tokens = 4, .hidden_size = 16, .num_heads = 2, .head_dim = 8, .depth = 1,
    .num_classes = 10, .t_eps = 0.05f, .noise_scale = 1.0f,
};

typedef struct attention_under_test {
    const pd_plugin *pl;
    void *state;
    float scale;
} attention_under_test;

static int fail(const char *what) {
    fprintf(stderr, PLUGIN ": %s: %s\n", what, pd_last_error());
    return 1;
}

/* (q, k, v) -> the plugin's output, through the host's checked call */
static pd_tensor *run_fn(pd_ctx *ctx, pd_tensor *const *in, int n, void *user) {
    (void)n;
    attention_under_test *a = user;
    return pd_plugin_attention_forward(a->pl, a->state, ctx, in[0], in[1], in[2], a->scale);
}

/* One case: B batches, H heads, N queries, M keys, head size d. */
static int check_case(attention_under_test *a, int B, int H, int N, int M, int d, uint64_t seed) {
    int qs[4] = {B, H, N, d}, ks[4] = {B, H, M, d};
    size_t nq = (size_t)B * H * N * d, nk = (size_t)B * H * M * d;
    float *buf[3] = {malloc(nq * sizeof(float)), malloc(nk * sizeof(float)), malloc(nk * sizeof(float))};
    if (!buf[0] || !buf[1] || !buf[2]) return fail("out of memory");
    pd_rng rng;
    pd_rng_seed(&rng, seed);
    pd_rng_fill_uniform(&rng, buf[0], nq, -1.0f, 1.0f);
    pd_rng_fill_uniform(&rng, buf[1], nk, -1.0f, 1.0f);
    pd_rng_fill_uniform(&rng, buf[2], nk, -1.0f, 1.0f);
    a->scale = 1.0f / sqrtf((float)d);

    pd_ctx *ctx = pd_ctx_new(0);
    pd_ctx_set_grad_enabled(ctx, false);
    pd_tensor *in[3] = {pd_tensor_from(ctx, buf[0], qs, 4), pd_tensor_from(ctx, buf[1], ks, 4),
                        pd_tensor_from(ctx, buf[2], ks, 4)};
    pd_tensor *o1 = run_fn(ctx, in, 3, a), *o2 = run_fn(ctx, in, 3, a);
    pd_tensor *ref = pd_sdpa(ctx, in[0], in[1], in[2], a->scale); /* (B, H, N, d) */
    int rc = 1;
    if (!o1 || !o2 || !ref) {
        fprintf(stderr, PLUGIN ": forward: %s\n", pd_ctx_error(ctx));
    } else if (o1->ndim != 4 || memcmp(o1->shape, qs, sizeof qs)) {
        fprintf(stderr, PLUGIN ": output is not q's shape\n"); /* the host call checks it too */
    } else if (memcmp(o1->data, o2->data, nq * sizeof(float))) {
        fprintf(stderr, PLUGIN ": two forward passes differ\n");
    } else {
        double diff = 0;
        for (size_t i = 0; i < nq; i++) diff = fmax(diff, fabs((double)o1->data[i] - ref->data[i]));
        double fl = pd_plugin_attention_vtable(a->pl)->flops
                        ? pd_plugin_attention_vtable(a->pl)->flops(a->state, B, H, N, M, d)
                        : 0;
        if (!(diff <= MAX_DIFF))
            fprintf(stderr, PLUGIN ": B%d H%d N%d M%d d%d: differs from sdpa by %.3g (> %g)\n", B, H, N, M,
                    d, diff, MAX_DIFF);
        else if (!(fl > 0 && isfinite(fl)))
            fprintf(stderr, PLUGIN ": flops(%d, %d, %d, %d, %d) = %g, expected a positive number\n", B, H,
                    N, M, d, fl);
        else
            rc = 0;
    }
    pd_ctx_free(ctx);

    if (!rc) {
        pd_gradcheck_input gin[3] = {{.data = buf[0], .shape = qs, .ndim = 4, .check = true},
                                     {.data = buf[1], .shape = ks, .ndim = 4, .check = true},
                                     {.data = buf[2], .shape = ks, .ndim = 4, .check = true}};
        double worst;
        if (pd_gradcheck(run_fn, a, gin, 3, NULL, &worst)) rc = fail("gradcheck");
        else printf("  B%d H%d N%d M%d d%d: ok, gradcheck worst err/tol %.3f\n", B, H, N, M, d, worst);
    }
    for (int i = 0; i < 3; i++) free(buf[i]);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: " PLUGIN " PATH/attention.so\n"), 2;
    pd_plugin *pl;
    if (pd_plugin_load(argv[1], PD_PLUGIN_ATTENTION, &pl)) return fail("load");
    pd_plugin_config *cfg;
    if (pd_plugin_config_build(pl, "attention", SETTINGS, (int)(sizeof SETTINGS / sizeof *SETTINGS), &cfg))
        return fail("config");
    attention_under_test a = {.pl = pl};
    if (pd_plugin_create_attention(pl, &info, cfg, &a.state)) return fail("create");
    /* square, fewer keys than queries, more keys, one query, odd sizes */
    if (check_case(&a, 2, 2, 5, 5, 8, 1) || check_case(&a, 1, 3, 7, 4, 6, 2) ||
        check_case(&a, 2, 1, 3, 9, 4, 3) || check_case(&a, 1, 2, 1, 5, 8, 4))
        return 1;
    pd_plugin_attention_vtable(pl)->destroy(a.state);
    pd_plugin_config_free(cfg);
    pd_plugins_unload_all();
    printf(PLUGIN " OK (%s)\n", argv[1]);
    return 0;
}
