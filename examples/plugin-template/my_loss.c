/* my_loss - a minimal pixeldit loss plugin: the Charbonnier loss
 *     mean( sqrt((v_pred - v)^2 + eps^2) - eps )
 * on the velocity, with the elementwise part written as a custom op (its
 * own forward and backward, registered through host->op_apply). */
#include <math.h>
#include <stdlib.h>

#include <pixeldit/plugin.h>

typedef struct my_loss {
    const pd_host_api *host;
    float eps;
} my_loss;

static const pd_plugin_key keys[] = {
    {"eps", PD_KEY_FLOAT, "0.001", "Charbonnier epsilon (smooth L1 near 0)", "0.."},
};

/* The op's attribute block, copied into the step's arena by op_apply. */
typedef struct charbonnier_attr {
    float eps;
} charbonnier_attr;

/* out = sqrt(d^2 + eps^2) - eps, elementwise; d any shape */
static pd_status charbonnier_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in,
                                 void *attr) {
    (void)ctx, (void)n_in;
    float eps = ((charbonnier_attr *)attr)->eps;
    for (size_t i = 0; i < out->numel; i++) {
        float d = in[0]->data[i];
        out->data[i] = sqrtf(d * d + eps * eps) - eps;
    }
    return PD_OK;
}

/* d out / d d = d / sqrt(d^2 + eps^2); accumulate (+=) into d's gradient
 * only when it has one. */
static pd_status charbonnier_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in,
                                 void *attr) {
    (void)ctx, (void)n_in;
    float eps = ((charbonnier_attr *)attr)->eps;
    pd_tensor *d = in[0];
    if (!d->grad) return PD_OK;
    for (size_t i = 0; i < out->numel; i++) {
        float x = d->data[i];
        float r = sqrtf(x * x + eps * eps);
        d->grad[i] += r > 0 ? out->grad[i] * x / r : 0.0f;
    }
    return PD_OK;
}

static const pd_op_def charbonnier_op = {"my_loss.charbonnier", charbonnier_fwd, charbonnier_bwd};

static pd_status create(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, void **state) {
    (void)info;
    my_loss *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "my_loss: out of memory");
    s->host = host;
    s->eps = (float)host->cfg_float(cfg, "eps");
    *state = s;
    return PD_OK;
}

/* v_pred, v (B, C, H, W) -> scalar (the host multiplies it by `weight`) */
static pd_tensor *forward(void *state, pd_ctx *ctx, const pd_loss_inputs *in,
                          pd_loss_parts *parts) {
    my_loss *s = state;
    const pd_host_api *h = s->host;
    pd_tensor *d = h->sub(ctx, in->v_pred, in->v);
    if (!d) return NULL; /* the error is already recorded in ctx */
    charbonnier_attr attr = {s->eps};
    pd_tensor *e = h->op_apply(ctx, &charbonnier_op, &d, 1, d->shape, d->ndim, &attr, sizeof attr);
    pd_tensor *loss = h->mean(ctx, e);
    if (loss && parts && parts->n < PD_LOSS_MAX_PARTS) { /* shown in the training log */
        parts->name[parts->n] = "charbonnier";
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
    .name = "my_loss",
    .version = "0.1.0",
    .description = "Charbonnier loss on the velocity (template)",
    .keys = keys,
    .n_keys = 1,
    .vtable = &vtable,
};

PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entry(void) { return &desc; }
