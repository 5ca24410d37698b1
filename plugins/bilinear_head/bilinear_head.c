/* bilinear_head: an unpatchify that up-samples instead of reshaping (the
 * design notes' method 4; design and reasons in docs/bilinear_head.md).
 *
 *   shift, scale = Linear(SiLU(c)).chunk(2)                 (B, D) each   JiT's adaLN
 *   h = modulate(RMSNorm(tokens), shift, scale)             (B, N, D)
 *   f = Linear_proj(h)                                      (B, N, s*s*K)  K = C*k
 *   F = pixel shuffle (unpatchify with patch s)             (B, K, s*g, s*g)
 *   U = bilinear(F -> H x W, align_corners)                 (B, K, H, W)
 *   residual:  J = unpatchify(Linear(h)), JiT's head        (B, C, H, W)
 *              x_pred = J + Conv_kxk([U ; J])                (B, C, H, W)
 *   otherwise: x_pred = Conv_kxk(U)
 *
 * s = grid_mult (1: the token grid, 2: twice it). The conv pads with zeros
 * at the image border only, so it straddles patch borders, where the plain
 * unpatchify leaves its seams. The conv starts at zero: a fresh model
 * outputs 0 and, in residual mode, is exactly JiT. The final layer keeps
 * JiT's names under "decoder.final_layer.", so a baseline checkpoint's
 * final_layer.* tensors load into it by adding the prefix. */
#include <math.h>
#include <stdlib.h>

#include "pixeldit/plugin.h"
#include "pixeldit/plugin_util.h"

static const pd_plugin_key keys[] = {
    {"k", PD_KEY_INT, "4", "feature channels per image channel: the up-sampled map has C*k channels",
     "1..64"},
    {"kernel", PD_KEY_INT, "3", "side of the refining convolution (odd; 1 = no spatial mixing)",
     "1..15"},
    {"residual", PD_KEY_BOOL, "true",
     "x_pred = JiT's linear unpatchify + conv([up-sampled ; JiT]); false: x_pred = conv(up-sampled)",
     NULL},
    {"align_corners", PD_KEY_BOOL, "false",
     "bilinear sampling as torch's align_corners (false: a token's value sits at its patch centre)",
     NULL},
    {"grid_mult", PD_KEY_INT, "1",
     "feature map side as a multiple of the token grid (1, or 2: s*s*C*k features per token)",
     "1..2"},
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

typedef struct {
    const pd_host_api *host;
    pd_model_info info;
    int k, kernel, grid_mult;
    bool residual, align_corners;
    int feat;                   /* K = C * k */
    pd_jit_head head;           /* decoder.final_layer.*: the linear in residual mode only */
    pd_tensor *proj_w, *proj_b; /* proj: (s*s*K, D), (s*s*K) */
    pd_tensor *conv_w, *conv_b; /* refine: (C, K [+ C], kernel, kernel), (C) */
} bilinear_head;

static pd_status bh_register(bilinear_head *s, pd_params *params) {
    const pd_host_api *h = s->host;
    const char *fl = "decoder.final_layer.";
    int D = s->info.hidden_size, C = s->info.channels;
    int sK = s->grid_mult * s->grid_mult * s->feat, cin = s->feat + (s->residual ? C : 0);
    bool ok = pd_jit_head_add_modulation(h, params, fl, &s->info, &s->head);
    if (ok && s->residual) ok = pd_jit_head_add_linear(h, params, fl, &s->info, &s->head);
    ok = ok && (s->proj_w = h->param_add(params, "decoder.proj.weight", (int[]){sK, D}, 2, 0));
    ok = ok && (s->proj_b = h->param_add(params, "decoder.proj.bias", (int[]){sK}, 1, 0));
    ok = ok && (s->conv_w = h->param_add(params, "decoder.refine.weight",
                                         (int[]){C, cin, s->kernel, s->kernel}, 4, 0));
    ok = ok && (s->conv_b = h->param_add(params, "decoder.refine.bias", (int[]){C}, 1, 0));
    return ok ? PD_OK : PD_ERR_PLUGIN; /* the host set the message */
}

static pd_status bh_create(const pd_host_api *host, const pd_model_info *info,
                           const pd_plugin_config *cfg, pd_params *params, void **state) {
    bilinear_head *s = calloc(1, sizeof *s);
    if (!s) return host->fail(PD_ERR_NOMEM, "bilinear_head: out of memory");
    s->host = host;
    s->info = *info;
    s->k = (int)host->cfg_int(cfg, "k");
    s->kernel = (int)host->cfg_int(cfg, "kernel");
    s->grid_mult = (int)host->cfg_int(cfg, "grid_mult");
    s->residual = host->cfg_bool(cfg, "residual");
    s->align_corners = host->cfg_bool(cfg, "align_corners");
    s->feat = info->channels * s->k;
    pd_status st = PD_OK;
    if (s->kernel % 2 == 0)
        st = host->fail(PD_ERR_CONFIG,
                        "bilinear_head: kernel = %d is even; the refining convolution keeps the "
                        "image size with padding kernel/2, which needs an odd kernel (1, 3, 5, ...)",
                        s->kernel);
    else if (s->grid_mult > info->patch_size)
        st = host->fail(PD_ERR_CONFIG,
                        "bilinear_head: grid_mult = %d exceeds patch_size %d: the feature map "
                        "would be larger than the image",
                        s->grid_mult, info->patch_size);
    if (!st) st = bh_register(s, params);
    if (st) {
        free(s); /* the host does not call destroy after a failed create */
        return st;
    }
    *state = s;
    return PD_OK;
}

static void fill(pd_tensor *t, float v) {
    for (size_t i = 0; i < t->numel; i++) t->data[i] = v;
}

/* JiT's final-layer init (RMSNorm 1, adaLN and linear 0), proj as JiT's
 * other Linears (xavier_uniform, bias 0), the refining conv 0. */
static pd_status bh_init(void *state, pd_rng *rng) {
    bilinear_head *s = state;
    pd_jit_head_init(&s->head);
    float bound = sqrtf(6.0f / (float)(s->proj_w->shape[0] + s->proj_w->shape[1]));
    s->host->rng_uniform(rng, s->proj_w->data, s->proj_w->numel, -bound, bound);
    fill(s->proj_b, 0.0f);
    fill(s->conv_w, 0.0f), fill(s->conv_b, 0.0f);
    return PD_OK;
}

static pd_tensor *bh_forward(void *state, pd_ctx *ctx, const pd_decoder_inputs *in) {
    bilinear_head *s = state;
    const pd_host_api *h = s->host;
    const pd_model_info *m = &s->info;
    int H = m->image_size, sg = s->grid_mult * m->grid;
    if (!in->tokens || !in->c) return NULL;
    pd_tensor *x = pd_jit_head_modulate(h, ctx, &s->head, m, in->tokens, in->c); /* (B, N, D) */
    pd_tensor *f = h->linear(ctx, x, s->proj_w, s->proj_b);                     /* (B, N, s*s*K) */
    f = h->unpatchify(ctx, f, s->feat, sg, sg, s->grid_mult, PD_PATCH_JIT);     /* (B, K, sg, sg) */
    pd_tensor *u = h->upsample_bilinear(ctx, f, H, H, s->align_corners);        /* (B, K, H, W) */
    int pad = s->kernel / 2;
    if (!s->residual) return h->conv2d(ctx, u, s->conv_w, s->conv_b, 1, pad);  /* (B, C, H, W) */
    pd_tensor *j = pd_jit_head_output(h, ctx, &s->head, m, x);                  /* (B, C, H, W) */
    pd_tensor *cat = h->concat(ctx, (pd_tensor *[]){u, j}, 2, 1);               /* (B, K + C, H, W) */
    return h->add(ctx, j, h->conv2d(ctx, cat, s->conv_w, s->conv_b, 1, pad));   /* (B, C, H, W) */
}

/* GEMMs and the convolution; the resize, like pools, is not counted. */
static double bh_flops(void *state) {
    const bilinear_head *s = state;
    const pd_model_info *m = &s->info;
    double D = m->hidden_size, N = m->num_tokens, C = m->channels;
    double P = (double)m->image_size * m->image_size, kk = (double)s->kernel * s->kernel;
    double sK = (double)s->grid_mult * s->grid_mult * s->feat, cin = s->feat + (s->residual ? C : 0);
    return pd_jit_head_flops(&s->head, m) + 2.0 * N * D * sK + 2.0 * P * C * cin * kk;
}

static void bh_destroy(void *state) { free(state); }

static const pd_decoder_vtable vtable = {
    .struct_size = sizeof(pd_decoder_vtable),
    .create = bh_create,
    .init_weights = bh_init,
    .forward = bh_forward,
    .flops = bh_flops,
    .destroy = bh_destroy,
};

static const pd_plugin_desc desc = {
    PD_PLUGIN_DESC_INIT,
    .kind = PD_PLUGIN_DECODER,
    .name = "bilinear_head",
    .version = "1.0.0",
    .description = "bilinear unpatchify: tokens -> C*k maps, bilinear up-sampling, conv refine (+ JiT's head as a residual)",
    .keys = keys,
    .n_keys = N_KEYS,
    .vtable = &vtable,
};

PD_PLUGIN_ENTRY(desc)
