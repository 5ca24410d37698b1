/* sdpa: exact scaled-dot-product attention (the default attention). The
 * kernel is the core's pd_sdpa (fp32 logits and softmax, as JiT). */
#include "pixeldit/plugin.h"
#include "pixeldit/plugin_util.h"

typedef struct {
    const pd_host_api *host;
} sdpa_state;

static sdpa_state g_state;

static pd_status sd_create(const pd_host_api *host, const pd_model_info *info,
                           const pd_plugin_config *cfg, void **state) {
    (void)info, (void)cfg;
    g_state.host = host;
    *state = &g_state;
    return PD_OK;
}

static pd_tensor *sd_forward(void *state, pd_ctx *ctx, pd_tensor *q, pd_tensor *k, pd_tensor *v,
                             float scale) {
    return ((sdpa_state *)state)->host->sdpa(ctx, q, k, v, scale);
}

/* q k^T and P v: two (N x M x d) GEMMs per head. */
static double sd_flops(void *state, int B, int H, int N, int M, int d) {
    (void)state;
    return 4.0 * B * H * (double)N * M * d;
}

static void sd_destroy(void *state) { (void)state; }

static const pd_attention_vtable vtable = {
    .struct_size = sizeof(pd_attention_vtable),
    .create = sd_create,
    .forward = sd_forward,
    .flops = sd_flops,
    .destroy = sd_destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_ATTENTION,
    .name = "sdpa",
    .version = "1.0.0",
    .description = "exact scaled-dot-product attention, fp32 softmax (the default attention)",
    .vtable = &vtable,
};

PD_PLUGIN_ENTRY(desc)
