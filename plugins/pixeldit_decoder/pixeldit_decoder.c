/* pixeldit_decoder: PixelDiT's pixel pathway (arXiv 2511.20645, spec
 * pixeldit_dip.md 1) as a decoder plugin. A full-resolution stream of
 * pixel tokens (width pixel_dim) is conditioned per pixel by AdaLN
 * parameters projected from each patch's backbone token, and talks across
 * the image through attention on compacted patch tokens. Keys, the plan,
 * create, flops, destroy and the descriptor; the tables, parameters and
 * forward pass are in the other files of this folder. Documentation:
 * docs/pixeldit_decoder.md. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit_decoder.h"
#include "pixeldit/plugin_util.h"

static const pd_plugin_key keys[] = {
    {"pixel_depth", PD_KEY_INT, "2", "PiT blocks M (PixelDiT-B: 2, L/XL: 4)", "1..64"},
    {"pixel_dim", PD_KEY_INT, "16", "width D_pix of a pixel token (PixelDiT: 16; a multiple of 4)",
     "4..256"},
    {"attn_dim", PD_KEY_INT, "0", "width of the compacted tokens; 0 = the backbone width D",
     "0..8192"},
    {"heads", PD_KEY_INT, "0", "attention heads on the compacted tokens; 0 = the backbone's",
     "0..256"},
    {"mlp_ratio", PD_KEY_FLOAT, "4", "per-pixel MLP width = int(pixel_dim * mlp_ratio)", "0.25..64"},
    {"post_modulation", PD_KEY_BOOL, "false",
     "PixelDiT PR #8: modulate the branch outputs (4 chunks, no gates) instead of the inputs", NULL},
    {"abs_pe", PD_KEY_BOOL, "true", "add the fixed 2D sin-cos position embedding to pixel tokens",
     NULL},
    {"rope", PD_KEY_ENUM, "pixeldit",
     "RoPE on the patch grid: pixeldit (positions 0..16, x/y interleaved) or jit (the backbone's)",
     "pixeldit|jit"},
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

/* The host entries of ABI 1.1 this plugin calls. */
#define PXD_HOST_SIZE (offsetof(pd_host_api, rope_table_free) + sizeof(void (*)(pd_rope_table *)))

static pd_status plan_make(const pd_host_api *h, const pd_model_info *info,
                           const pd_plugin_config *cfg, pxd_plan *pl) {
    *pl = (pxd_plan){0};
    pl->C = info->channels, pl->H = info->image_size, pl->p = info->patch_size;
    pl->P = pl->p * pl->p, pl->grid = info->grid, pl->L = info->num_tokens, pl->D = info->hidden_size;
    pl->depth = (int)h->cfg_int(cfg, "pixel_depth");
    pl->Dp = (int)h->cfg_int(cfg, "pixel_dim");
    pl->Da = (int)h->cfg_int(cfg, "attn_dim");
    pl->heads = (int)h->cfg_int(cfg, "heads");
    double ratio = h->cfg_float(cfg, "mlp_ratio");
    pl->post_mod = h->cfg_bool(cfg, "post_modulation");
    pl->abs_pe = h->cfg_bool(cfg, "abs_pe");
    const char *rope = h->cfg_string(cfg, "rope");
    pl->rope = rope && !strcmp(rope, "jit") ? PXD_ROPE_JIT : PXD_ROPE_PIXELDIT;
    if (!pl->Da) pl->Da = pl->D;
    if (!pl->heads) pl->heads = info->num_heads;
    pl->n_mod = pl->post_mod ? 4 : 6;
    pl->hidden = (int)(pl->Dp * ratio); /* >= 1: pixel_dim >= 4, mlp_ratio >= 0.25 */

    if (pl->depth > PXD_MAX_DEPTH)
        return h->fail(PD_ERR_CONFIG, "pixeldit_decoder: pixel_depth %d: at most %d", pl->depth,
                       PXD_MAX_DEPTH);
    if (pl->Dp % 4)
        return h->fail(PD_ERR_CONFIG, "pixeldit_decoder: pixel_dim %d is not a multiple of 4 (the "
                       "2D sin-cos embedding gives x and y each a [sin | cos] half)", pl->Dp);
    if (pl->heads < 1 || pl->Da % pl->heads)
        return h->fail(PD_ERR_CONFIG, "pixeldit_decoder: attn_dim %d is not divisible by heads %d",
                       pl->Da, pl->heads);
    pl->hd = pl->Da / pl->heads;
    if (pl->hd % 4)
        return h->fail(PD_ERR_CONFIG, "pixeldit_decoder: head width attn_dim / heads = %d / %d = %d "
                       "is not a multiple of 4 (2D RoPE gives x and y hd/4 frequencies each)",
                       pl->Da, pl->heads, pl->hd);
    if (pl->grid < 1 || pl->grid * pl->p != pl->H || pl->L != pl->grid * pl->grid)
        return h->fail(PD_ERR_CONFIG, "pixeldit_decoder: image_size %d, patch_size %d, grid %d, "
                       "%d tokens: expected a square grid of whole patches", pl->H, pl->p,
                       pl->grid, pl->L);
    /* the AdaLN projection's weight (D, n_mod*P*Dp) must stay a sane tensor */
    if ((double)pl->n_mod * pl->P * pl->Dp * pl->D > 2e9 || (double)pl->P * pl->Dp * pl->Da > 2e9)
        return h->fail(PD_ERR_CONFIG, "pixeldit_decoder: patch_size %d with pixel_dim %d is too "
                       "large (AdaLN projection %d x %d)", pl->p, pl->Dp, pl->D,
                       pl->n_mod * pl->P * pl->Dp);
    return PD_OK;
}

static void pxd_destroy(void *state) {
    pxd_state *s = state;
    if (!s) return;
    pxd_tables_free(s);
    free(s);
}

static pd_status pxd_create(const pd_host_api *host, const pd_model_info *info,
                            const pd_plugin_config *cfg, pd_params *params, void **state) {
    if (host->struct_size < PXD_HOST_SIZE)
        return host->fail(PD_ERR_PLUGIN, "pixeldit_decoder: the host API table has %zu bytes, "
                          "expected >= %zu: this pixeldit predates ABI 1.1 (attention, "
                          "rope_table_init_2d)", host->struct_size, (size_t)PXD_HOST_SIZE);
    pxd_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "pixeldit_decoder: out of memory");
    s->host = host;
    pd_status st = plan_make(host, info, cfg, &s->plan);
    if (!st) st = pxd_params_register(s, params);
    if (!st) st = pxd_tables_make(s);
    if (st) {
        pxd_destroy(s); /* the host does not call destroy after a failed create */
        return st;
    }
    *state = s;
    return PD_OK;
}

static pd_status pxd_init_weights(void *state, pd_rng *rng) {
    pxd_params_init(state, rng);
    return PD_OK;
}

static pd_tensor *pxd_forward_cb(void *state, pd_ctx *ctx, const pd_decoder_inputs *in) {
    return pxd_forward(state, ctx, in);
}

static double pxd_flops_cb(void *state) { return pxd_flops(&((pxd_state *)state)->plan); }

static const pd_decoder_vtable vtable = {
    .struct_size = sizeof(pd_decoder_vtable),
    .create = pxd_create,
    .init_weights = pxd_init_weights,
    .forward = pxd_forward_cb,
    .flops = pxd_flops_cb,
    .destroy = pxd_destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_DECODER,
    .name = "pixeldit_decoder",
    .version = "1.0.0",
    .description = "PixelDiT pixel pathway: per-pixel AdaLN, attention on compacted patch tokens, pixel MLP",
    .keys = keys,
    .n_keys = N_KEYS,
    .vtable = &vtable,
};

PD_PLUGIN_ENTRY(desc)
