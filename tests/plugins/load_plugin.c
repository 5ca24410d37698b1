/* load_plugin FILE.so...: loads each plugin with the host's checks, creates
 * it with default config on a tiny model and runs one forward. Prints one
 * line per plugin; exits 1 at the first failure, with the host's message.
 * Used by the SDK test on plugins built out of tree. */
#include <stdio.h>
#include <stdlib.h>

#include "pixeldit/plugin_host.h"

static const pd_model_info info = {
    sizeof(pd_model_info), 8, 3, 4, 2, 4, 16, 2, 8, 1, 10, 0.05f, 1.0f,
};

static pd_tensor *randn(pd_ctx *ctx, pd_rng *rng, const int *shape, int ndim) {
    pd_tensor *t = pd_tensor_empty(ctx, shape, ndim);
    if (t) pd_rng_fill_normal(rng, t->data, t->numel, 0.0f, 1.0f);
    return t;
}

/* Creates the plugin, runs forward once, destroys it; the output shape is
 * checked by kind. */
static pd_status smoke(const pd_plugin *pl, pd_ctx *ctx, pd_rng *rng) {
    void *state = NULL;
    pd_status s;
    pd_tensor *out = NULL;
    int B = 1, C = info.channels, H = info.image_size, N = info.num_tokens;
    int img[4] = {B, C, H, H};
    if (pd_plugin_get_kind(pl) == PD_PLUGIN_DECODER) {
        pd_params *params = pd_params_new();
        const pd_decoder_vtable *vt = pd_plugin_decoder_vtable(pl);
        if ((s = pd_plugin_create_decoder(pl, &info, NULL, params, &state))) {
            pd_params_free(params);
            return s;
        }
        vt->init_weights(state, rng);
        pd_tensor *c = randn(ctx, rng, (int[]){B, info.hidden_size}, 2);
        pd_decoder_inputs in = {.struct_size = sizeof in,
                                .tokens = randn(ctx, rng, (int[]){B, N, info.hidden_size}, 3),
                                .t_emb = c, .y_emb = c, .c = c,
                                .t = randn(ctx, rng, (int[]){B}, 1), .z = randn(ctx, rng, img, 4)};
        out = vt->forward(state, ctx, &in);
        vt->destroy(state);
        pd_params_free(params);
        if (out && (out->ndim != 4 || out->shape[1] != C || out->shape[2] != H))
            return pd_fail(PD_ERR_SHAPE, "%s: decoder output is not (1, %d, %d, %d)",
                           pd_plugin_name(pl), C, H, H);
    } else if (pd_plugin_get_kind(pl) == PD_PLUGIN_LOSS) {
        const pd_loss_vtable *vt = pd_plugin_loss_vtable(pl);
        if ((s = pd_plugin_create_loss(pl, &info, NULL, &state))) return s;
        int labels[1] = {3};
        pd_loss_inputs in = {sizeof in, randn(ctx, rng, img, 4), randn(ctx, rng, img, 4),
                             randn(ctx, rng, img, 4), randn(ctx, rng, (int[]){B}, 1),
                             randn(ctx, rng, img, 4), randn(ctx, rng, img, 4), labels, B};
        pd_loss_parts parts = {0};
        out = vt->forward(state, ctx, &in, &parts);
        vt->destroy(state);
        if (out && out->numel != 1)
            return pd_fail(PD_ERR_SHAPE, "%s: loss is not a scalar", pd_plugin_name(pl));
    } else {
        const pd_attention_vtable *vt = pd_plugin_attention_vtable(pl);
        if ((s = pd_plugin_create_attention(pl, &info, NULL, &state))) return s;
        int qs[4] = {B, info.num_heads, N, info.head_dim};
        out = vt->forward(state, ctx, randn(ctx, rng, qs, 4), randn(ctx, rng, qs, 4),
                          randn(ctx, rng, qs, 4), 0.35f);
        vt->destroy(state);
        if (out && out->numel != pd_shape_numel(qs, 4))
            return pd_fail(PD_ERR_SHAPE, "%s: attention output is not (1, 2, 4, 8)",
                           pd_plugin_name(pl));
    }
    if (!out)
        return pd_fail(pd_ctx_status(ctx) ? pd_ctx_status(ctx) : PD_ERR_PLUGIN,
                       "%s: forward failed: %s", pd_plugin_name(pl), pd_ctx_error(ctx));
    return PD_OK;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: load_plugin FILE.so...\n");
        return 2;
    }
    pd_ctx *ctx = pd_ctx_new(1 << 20);
    pd_rng rng;
    pd_rng_seed(&rng, 1);
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        pd_plugin *pl;
        pd_status s = pd_plugin_load(argv[i], 0, &pl);
        if (!s) s = smoke(pl, ctx, &rng);
        if (s) {
            fprintf(stderr, "load_plugin: %s\n", pd_last_error());
            rc = 1;
        } else {
            printf("ok %s %s (%s)\n", pd_plugin_kind_name(pd_plugin_get_kind(pl)),
                   pd_plugin_name(pl), pd_plugin_path(pl));
        }
        pd_ctx_reset(ctx);
    }
    pd_ctx_free(ctx);
    pd_plugins_unload_all();
    return rc;
}
