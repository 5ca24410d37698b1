/* freq_loss: DeCo's frequency-aware flow-matching loss (arXiv 2511.19365),
 * as a loss plugin: the JPEG-weighted 8x8 DCT error of the YCbCr velocity,
 *   L = mean(w * (F(v_pred) - F(v))^2) = mean(w * F(v_pred - v)^2).
 * Combined by the host as sum_i weight_i * loss_i; DeCo's setting is
 * `[loss] plugin = v_loss, freq_loss` with both weights 1. See
 * docs/freq_loss.md and freq_loss.h. */
#include <stdlib.h>

#include "freq_loss.h"
#include "pixeldit/plugin_util.h"

static const pd_plugin_key keys[] = {
    {"quality", PD_KEY_INT, "85", "JPEG quality of the weight tables (IJG scaling; 100: uniform weights)",
     "1..100"},
    {"gamma", PD_KEY_FLOAT, "1.0", "weights (mean(Q)/Q)^gamma, mean-normalised (0: uniform)", "0.."},
    {"impl", PD_KEY_ENUM, "fused",
     "fused: one custom op with its own backward; composed: host ops (reference, slower)",
     "fused|composed"},
};

static pd_status fl_create(const pd_host_api *host, const pd_model_info *info,
                           const pd_plugin_config *cfg, void **state) {
    if (info->channels != 1 && info->channels != 3)
        return host->fail(PD_ERR_CONFIG, "images have %d channels; expected 1 (luma) or 3 (RGB)",
                          info->channels);
    if (!freq_side_ok(info->image_size))
        return host->fail(PD_ERR_CONFIG,
                          "image size %d cannot be cut into 8x8 blocks: reflect padding to %d "
                          "needs a pad (%d) smaller than the side; sides of at least 5 work",
                          info->image_size, freq_padded(info->image_size),
                          freq_padded(info->image_size) - info->image_size);
    freq_loss *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "out of memory");
    s->host = host;
    s->quality = (int)host->cfg_int(cfg, "quality");
    s->gamma = host->cfg_float(cfg, "gamma");
    const char *impl = host->cfg_string(cfg, "impl");
    s->composed = impl && impl[0] == 'c';

    /* tables in double, stored as float: the step computes in float32 */
    double q[FREQ_BLOCK_AREA], w[FREQ_BLOCK_AREA], c[FREQ_BLOCK_AREA];
    const int *base[3] = {freq_jpeg_luma, freq_jpeg_chroma, freq_jpeg_chroma}; /* Y, Cb, Cr */
    for (int k = 0; k < 3; k++) {
        freq_quant_table(base[k], s->quality, q);
        freq_weights(q, s->gamma, w);
        for (int i = 0; i < FREQ_BLOCK_AREA; i++) s->w[k][i] = (float)w[i];
    }
    freq_dct_matrix(c);
    for (int i = 0; i < FREQ_BLOCK_AREA; i++) s->dct[i] = (float)c[i];
    for (int k = 0; k < 3; k++)
        for (int ch = 0; ch < 3; ch++) s->ycbcr[k][ch] = (float)freq_ycbcr[k][ch];
    *state = s;
    return PD_OK;
}

/* Shapes the loss can take: v_pred and v equal, (B, C, H, W), C 1 or 3,
 * each side blockable. */
static bool shapes_ok(const freq_loss *s, pd_ctx *ctx, const pd_tensor *vp, const pd_tensor *v) {
    const pd_host_api *h = s->host;
    if (vp->ndim != 4 || v->ndim != 4 || vp->numel != v->numel) {
        h->ctx_fail(ctx, PD_ERR_SHAPE, "freq_loss: v_pred (rank %d, %zu values) and v (rank %d, %zu values) "
                    "must both be (B, C, H, W)", vp->ndim, vp->numel, v->ndim, v->numel);
        return false;
    }
    for (int i = 0; i < 4; i++)
        if (vp->shape[i] != v->shape[i]) {
            h->ctx_fail(ctx, PD_ERR_SHAPE, "freq_loss: v_pred (%d, %d, %d, %d) and v (%d, %d, %d, %d) differ",
                        vp->shape[0], vp->shape[1], vp->shape[2], vp->shape[3], v->shape[0], v->shape[1],
                        v->shape[2], v->shape[3]);
            return false;
        }
    if (vp->shape[1] != 1 && vp->shape[1] != 3) {
        h->ctx_fail(ctx, PD_ERR_SHAPE, "freq_loss: v_pred has %d channels; expected 1 (luma) or 3 (RGB)",
                    vp->shape[1]);
        return false;
    }
    if (!freq_side_ok(vp->shape[2]) || !freq_side_ok(vp->shape[3])) {
        h->ctx_fail(ctx, PD_ERR_SHAPE, "freq_loss: image %dx%d cannot be reflect-padded to 8x8 blocks "
                    "(each side must be at least 5)", vp->shape[2], vp->shape[3]);
        return false;
    }
    return true;
}

static pd_tensor *fl_forward(void *state, pd_ctx *ctx, const pd_loss_inputs *in, pd_loss_parts *parts) {
    const freq_loss *s = state;
    if (!in->v_pred || !in->v) {
        s->host->ctx_fail(ctx, PD_ERR_ARG, "freq_loss: v_pred or v missing from the loss inputs");
        return NULL;
    }
    if (!shapes_ok(s, ctx, in->v_pred, in->v)) return NULL;
    pd_tensor *loss = s->composed ? freq_loss_composed(s, ctx, in->v_pred, in->v)
                                  : freq_loss_fused(s, ctx, in->v_pred, in->v);
    if (loss && parts && parts->n < PD_LOSS_MAX_PARTS) {
        parts->name[parts->n] = "freq";
        parts->value[parts->n++] = loss->data[0];
    }
    return loss;
}

static void fl_destroy(void *state) { free(state); }

static const pd_loss_vtable vtable = {
    .struct_size = sizeof(pd_loss_vtable),
    .create = fl_create,
    .forward = fl_forward,
    .destroy = fl_destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_LOSS,
    .name = "freq_loss",
    .version = "1.0.0",
    .description = "DeCo frequency-aware loss: JPEG-weighted 8x8 DCT error of the YCbCr velocity",
    .keys = keys,
    .n_keys = (int)(sizeof keys / sizeof keys[0]),
    .vtable = &vtable,
};

PD_PLUGIN_ENTRY(desc)
