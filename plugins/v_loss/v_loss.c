/* v_loss: JiT's loss, mean((v_pred - v)^2) with v = (x - z) / max(1 - t, t_eps)
 * and v_pred the same on x_pred (the host computes both velocities, so
 * every loss sees one definition). The built-in default loss. */
#include "pixeldit/plugin.h"
#include "pixeldit/plugin_util.h"

typedef struct {
    const pd_host_api *host;
} v_loss;

static v_loss g_state; /* stateless apart from the host table */

static pd_status vl_create(const pd_host_api *host, const pd_model_info *info,
                           const pd_plugin_config *cfg, void **state) {
    (void)info, (void)cfg;
    g_state.host = host;
    *state = &g_state;
    return PD_OK;
}

static pd_tensor *vl_forward(void *state, pd_ctx *ctx, const pd_loss_inputs *in, pd_loss_parts *parts) {
    (void)parts;
    const pd_host_api *h = ((v_loss *)state)->host;
    /* mean over (C, H, W) then over the batch = mean over everything, as
     * the sizes are equal. */
    return h->mse(ctx, in->v_pred, in->v);
}

static void vl_destroy(void *state) { (void)state; }

static const pd_loss_vtable vtable = {
    .struct_size = sizeof(pd_loss_vtable),
    .create = vl_create,
    .forward = vl_forward,
    .destroy = vl_destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_LOSS,
    .name = "v_loss",
    .version = "1.0.0",
    .description = "JiT v-loss: mean squared error of the velocities (the default loss)",
    .vtable = &vtable,
};

PD_PLUGIN_ENTRY(desc)
