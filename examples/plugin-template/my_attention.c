/* my_attention - a minimal pixeldit attention plugin: exact attention
 * through the host's SDPA, with a configurable temperature. */
#include <stdlib.h>

#include <pixeldit/plugin.h>

typedef struct my_attention {
    const pd_host_api *host;
    float temperature;
} my_attention;

static const pd_plugin_key keys[] = {
    {"temperature", PD_KEY_FLOAT, "1.0", "softmax temperature (the scale is divided by it)",
     "0.01..100"},
};

static pd_status create(const pd_host_api *host, const pd_model_info *info,
                        const pd_plugin_config *cfg, void **state) {
    (void)info;
    my_attention *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "my_attention: out of memory");
    s->host = host;
    s->temperature = (float)host->cfg_float(cfg, "temperature");
    *state = s;
    return PD_OK;
}

/* q (B, H, N, d), k and v (B, H, M, d) -> (B, H, N, d) */
static pd_tensor *forward(void *state, pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v,
                          float scale) {
    my_attention *s = state;
    return s->host->sdpa(ctx, q, k, v, scale / s->temperature);
}

/* Forward FLOPs of one call: two (N x d) @ (d x M) sized GEMMs per head. */
static double flops(void *state, int B, int H, int N, int M, int d) {
    (void)state;
    return 4.0 * B * H * (double)N * M * d;
}

static void destroy(void *state) { free(state); }

static const pd_attention_vtable vtable = {
    .struct_size = sizeof(pd_attention_vtable),
    .create = create,
    .forward = forward,
    .flops = flops,
    .destroy = destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_ATTENTION,
    .name = "my_attention",
    .version = "0.1.0",
    .description = "exact attention with a temperature (template)",
    .keys = keys,
    .n_keys = 1,
    .vtable = &vtable,
};

PD_PLUGIN_EXPORT const pd_plugin_desc *pixeldit_plugin_entry(void) { return &desc; }
