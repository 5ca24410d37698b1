/* Test loss: L1, mean |x_pred - x|, with |.| as a custom op (forward and
 * backward registered through host->op_apply) since the host has no abs. */
#include <stdlib.h>
#include <string.h>

#include "pixeldit/plugin.h"

typedef struct loss_state {
    const pd_host_api *host;
    bool sum;  /* reduction = sum instead of mean */
} loss_state;

static const pd_plugin_key keys[] = {
    {"reduction", PD_KEY_ENUM, "mean", "how |x_pred - x| is reduced", "mean|sum"},
};

/* |x| elementwise, any shape. */
static pd_status abs_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in, (void)attr;
    for (size_t i = 0; i < out->numel; i++) {
        float v = in[0]->data[i];
        out->data[i] = v < 0 ? -v : v;
    }
    return PD_OK;
}

/* d|x|/dx = sign(x) (0 at 0, as torch) */
static pd_status abs_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in, (void)attr;
    if (!in[0]->grad) return PD_OK;
    for (size_t i = 0; i < out->numel; i++) {
        float v = in[0]->data[i];
        in[0]->grad[i] += v > 0 ? out->grad[i] : v < 0 ? -out->grad[i] : 0.0f;
    }
    return PD_OK;
}

static const pd_op_def abs_op = {"good_loss.abs", abs_fwd, abs_bwd};

static pd_status create(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, void **state) {
    (void)info;
    loss_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "good_loss: out of memory");
    s->host = host;
    s->sum = strcmp(host->cfg_string(cfg, "reduction"), "sum") == 0;
    *state = s;
    return PD_OK;
}

/* x_pred, x (B, C, H, W) -> scalar */
static pd_tensor *forward(void *state, pd_ctx *ctx, const pd_loss_inputs *in, pd_loss_parts *parts) {
    loss_state *s = state;
    const pd_host_api *h = s->host;
    pd_tensor *diff = h->sub(ctx, in->x_pred, in->x);
    if (!diff) return NULL;
    pd_tensor *a = h->op_apply(ctx, &abs_op, &diff, 1, diff->shape, diff->ndim, NULL, 0);
    pd_tensor *loss = s->sum ? h->sum(ctx, a) : h->mean(ctx, a);
    if (loss && parts && parts->n < PD_LOSS_MAX_PARTS) {
        parts->name[parts->n] = "l1";
        parts->value[parts->n++] = loss->data[0];
    }
    return loss;
}

static void destroy(void *state) { free(state); }

static const pd_loss_vtable vtable = {
    .struct_size = sizeof(pd_loss_vtable),
    .create = create,
    .forward = forward,
    .destroy = destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_LOSS,
    .name = "good_loss",
    .version = "1.0.0",
    .description = "test loss: L1 with a custom abs op",
    .keys = keys,
    .n_keys = 1,
    .vtable = &vtable,
};

PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entry(void) { return &desc; }
