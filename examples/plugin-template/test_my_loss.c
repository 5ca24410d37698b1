/* test_my_loss PATH/my_loss.so: loads the plugin the way pixeldit does,
 * checks one value by hand and the backward by finite differences
 * (pd_gradcheck), through the path training takes: the loss inputs made
 * from x_pred by pd_loss_inputs_for and the host's checked call
 * pd_plugin_loss_forward (a loss returning the wrong shape or bad parts
 * fails here as it would in training). Links libpixeldit; the plugin
 * itself does not. */
#include <math.h>
#include <stdio.h>

#include <pixeldit/gradcheck.h>
#include <pixeldit/parity.h>
#include <pixeldit/plugin_host.h>

/* A tiny model: 8x8 RGB images, patch 4, width 16. */
static const pd_model_info info = {
    .struct_size = sizeof info, .image_size = 8, .channels = 3, .patch_size = 4, .grid = 2,
    .num_tokens = 4, .hidden_size = 16, .num_heads = 2, .head_dim = 8, .depth = 1,
    .num_classes = 10, .t_eps = 0.05f, .noise_scale = 1.0f,
};

typedef struct loss_under_test {
    const pd_plugin *pl;
    void *state;
    const float *x, *z; /* (2, 3, 8, 8) clean and noisy images */
} loss_under_test;

/* x_pred (2, 3, 8, 8) -> scalar loss, as training computes it */
static pd_tensor *loss_of_xpred(pd_ctx *ctx, pd_tensor *const *in, int n_in, void *user) {
    (void)n_in;
    loss_under_test *u = user;
    static const float t[2] = {0.3f, 0.8f};
    static const int labels[2] = {1, 10};
    pd_loss_inputs li;
    if (pd_loss_inputs_for(ctx, in[0], pd_tensor_from(ctx, u->x, in[0]->shape, 4),
                           pd_tensor_from(ctx, u->z, in[0]->shape, 4), t, labels, info.t_eps, &li))
        return NULL;
    pd_loss_parts parts;
    return pd_plugin_loss_forward(u->pl, u->state, ctx, &li, &parts);
}

static int fail(const char *what) {
    fprintf(stderr, "test_my_loss: %s: %s\n", what, pd_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: test_my_loss my_loss.so\n"), 2;
    pd_plugin *pl;
    if (pd_plugin_load(argv[1], PD_PLUGIN_LOSS, &pl)) return fail("load");
    /* eps = 0.1 as if a config said `[loss] eps = 0.1` */
    pd_plugin_setting set = {"eps", "0.1", "test", 0};
    pd_plugin_config *cfg;
    if (pd_plugin_config_build(pl, "loss", &set, 1, &cfg)) return fail("config");
    enum { N = 2 * 3 * 8 * 8 };
    static float x[N], z[N], ones[N], xp[N];
    pd_rng rng;
    pd_rng_seed(&rng, 1);
    pd_rng_fill_uniform(&rng, x, N, -1.0f, 1.0f);
    pd_rng_fill_uniform(&rng, z, N, -1.0f, 1.0f);
    loss_under_test t = {.pl = pl, .x = x, .z = z};
    if (pd_plugin_create_loss(pl, &info, cfg, &t.state)) return fail("create");

    /* by hand: x_pred = x + (1 - t), so v_pred - v = 1 everywhere (t = 0.3
     * and 0.8, both above t_eps) -> sqrt(1 + eps^2) - eps */
    pd_ctx *ctx = pd_ctx_new(0);
    for (int i = 0; i < N; i++) ones[i] = x[i] + (i < N / 2 ? 0.7f : 0.2f);
    pd_tensor *vp = pd_tensor_from(ctx, ones, (int[]){2, 3, 8, 8}, 4);
    pd_tensor *loss = loss_of_xpred(ctx, &vp, 1, &t);
    double want = sqrt(1.0 + 0.01) - 0.1;
    if (!loss || fabs(loss->data[0] - want) > 1e-5) {
        fprintf(stderr, "test_my_loss: loss %g, expected %g (%s)\n", loss ? loss->data[0] : NAN, want,
                pd_ctx_error(ctx));
        return 1;
    }

    /* the backward (the custom op's, through v_pred) against central differences */
    pd_rng_fill_uniform(&rng, xp, N, -1.0f, 1.0f);
    pd_gradcheck_input input = {xp, (int[]){2, 3, 8, 8}, 4, true};
    pd_gradcheck_opts opts = pd_gradcheck_defaults();
    double worst;
    if (pd_gradcheck(loss_of_xpred, &t, &input, 1, &opts, &worst)) return fail("gradcheck");

    pd_plugin_loss_vtable(pl)->destroy(t.state);
    pd_plugin_config_free(cfg);
    pd_ctx_free(ctx);
    pd_plugins_unload_all();
    printf("my_loss OK (loss %.6f, gradcheck worst err/tol %.3f)\n", want, worst);
    return 0;
}
