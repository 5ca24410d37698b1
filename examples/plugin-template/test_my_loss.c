/* test_my_loss PATH/my_loss.so: loads the plugin the way pixeldit does,
 * checks one value by hand and the custom op's backward by finite
 * differences (pd_gradcheck). Links libpixeldit; the plugin itself does not. */
#include <math.h>
#include <stdio.h>

#include <pixeldit/gradcheck.h>
#include <pixeldit/plugin_host.h>

/* A tiny model: 8x8 RGB images, patch 4, width 16. */
static const pd_model_info info = {sizeof info, 8, 3, 4, 2, 4, 16, 2, 8, 1, 10, 0.05f, 1.0f};

typedef struct loss_under_test {
    const pd_loss_vtable *vt;
    void *state;
} loss_under_test;

/* v_pred (2, 3, 8, 8) -> scalar loss against the target v = 0 */
static pd_tensor *loss_of_vpred(pd_ctx *ctx, pd_tensor *const *in, int n_in, void *user) {
    (void)n_in;
    loss_under_test *t = user;
    pd_loss_inputs li = {.struct_size = sizeof li, .v_pred = in[0], .batch = 2};
    li.v = pd_tensor_zeros(ctx, in[0]->shape, in[0]->ndim);
    return t->vt->forward(t->state, ctx, &li, NULL);
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
    loss_under_test t = {pd_plugin_loss_vtable(pl), NULL};
    if (pd_plugin_create_loss(pl, &info, cfg, &t.state)) return fail("create");

    /* by hand: v_pred = 1 everywhere -> sqrt(1 + eps^2) - eps */
    pd_ctx *ctx = pd_ctx_new(0);
    float ones[2 * 3 * 8 * 8];
    for (int i = 0; i < 2 * 3 * 8 * 8; i++) ones[i] = 1.0f;
    pd_tensor *vp = pd_tensor_from(ctx, ones, (int[]){2, 3, 8, 8}, 4);
    pd_tensor *loss = loss_of_vpred(ctx, &vp, 1, &t);
    double want = sqrt(1.0 + 0.01) - 0.1;
    if (!loss || fabs(loss->data[0] - want) > 1e-6) {
        fprintf(stderr, "test_my_loss: loss %g, expected %g\n", loss ? loss->data[0] : NAN, want);
        return 1;
    }

    /* backward of the custom op against central differences */
    float x[2 * 3 * 8 * 8];
    pd_rng rng;
    pd_rng_seed(&rng, 1);
    pd_rng_fill_uniform(&rng, x, 2 * 3 * 8 * 8, -1.0f, 1.0f);
    pd_gradcheck_input input = {x, (int[]){2, 3, 8, 8}, 4, true};
    pd_gradcheck_opts opts = pd_gradcheck_defaults();
    double worst;
    if (pd_gradcheck(loss_of_vpred, &t, &input, 1, &opts, &worst)) return fail("gradcheck");

    t.vt->destroy(t.state);
    pd_plugin_config_free(cfg);
    pd_ctx_free(ctx);
    pd_plugins_unload_all();
    printf("my_loss OK (loss %.6f, gradcheck worst err/tol %.3f)\n", want, worst);
    return 0;
}
