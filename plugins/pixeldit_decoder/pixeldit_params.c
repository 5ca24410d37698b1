/* Parameters of the pixel pathway: registration under "decoder." with the
 * names of the official PixelDiT modules (pixel_embedder.proj,
 * pixel_blocks.<i>.*, final_layer.*; the same names, minus the prefix, as
 * the reference in tests/golden/make_pixeldit_goldens.py), the
 * initialisation, and the analytic parameter and FLOP counts. */
#include <math.h>
#include <stdio.h>

#include "pixeldit_decoder.h"

/* decoder.<stem>.weight (out, in) and, if bias, decoder.<stem>.bias (out). */
static bool add_linear(const pxd_state *s, pd_params *params, pxd_linear *l, const char *stem,
                       int in, int out, bool bias) {
    char name[128];
    snprintf(name, sizeof name, "decoder.%s.weight", stem);
    l->w = s->host->param_add(params, name, (int[]){out, in}, 2, 0);
    l->b = NULL;
    if (!bias) return l->w != NULL;
    snprintf(name, sizeof name, "decoder.%s.bias", stem);
    l->b = s->host->param_add(params, name, (int[]){out}, 1, 0);
    return l->w && l->b;
}

static pd_tensor *add_vector(const pxd_state *s, pd_params *params, const char *stem, int n) {
    char name[128];
    snprintf(name, sizeof name, "decoder.%s.weight", stem);
    return s->host->param_add(params, name, (int[]){n}, 1, 0);
}

static bool add_block(const pxd_state *s, pd_params *params, pxd_block *b, int i) {
    const pxd_plan *pl = &s->plan;
    char st[96];
#define STEM(x) (snprintf(st, sizeof st, "pixel_blocks.%d.%s", i, x), st)
    bool ok = add_linear(s, params, &b->ada, STEM("adaLN_modulation.0"), pl->D,
                         pl->n_mod * pl->P * pl->Dp, true);
    ok = ok && (b->norm1 = add_vector(s, params, STEM("norm1"), pl->Dp));
    ok = ok && add_linear(s, params, &b->compress, STEM("compress_to_attn"), pl->P * pl->Dp, pl->Da,
                          true);
    ok = ok && add_linear(s, params, &b->qkv, STEM("attn.qkv"), pl->Da, 3 * pl->Da, false);
    ok = ok && (b->q_norm = add_vector(s, params, STEM("attn.q_norm"), pl->hd));
    ok = ok && (b->k_norm = add_vector(s, params, STEM("attn.k_norm"), pl->hd));
    ok = ok && add_linear(s, params, &b->proj, STEM("attn.proj"), pl->Da, pl->Da, true);
    ok = ok && add_linear(s, params, &b->expand, STEM("expand_from_attn"), pl->Da, pl->P * pl->Dp,
                          true);
    ok = ok && (b->norm2 = add_vector(s, params, STEM("norm2"), pl->Dp));
    ok = ok && add_linear(s, params, &b->fc1, STEM("mlp.fc1"), pl->Dp, pl->hidden, true);
    ok = ok && add_linear(s, params, &b->fc2, STEM("mlp.fc2"), pl->hidden, pl->Dp, true);
#undef STEM
    return ok;
}

pd_status pxd_params_register(pxd_state *s, pd_params *params) {
    const pxd_plan *pl = &s->plan;
    bool ok = add_linear(s, params, &s->embed, "pixel_embedder.proj", pl->C, pl->Dp, true);
    for (int i = 0; i < pl->depth && ok; i++) ok = add_block(s, params, &s->blocks[i], i);
    ok = ok && (s->final_norm = add_vector(s, params, "final_layer.norm", pl->Dp));
    ok = ok && add_linear(s, params, &s->final, "final_layer.linear", pl->Dp, pl->C, true);
    return ok ? PD_OK : PD_ERR_PLUGIN; /* the host set the message */
}

static void fill(pd_tensor *t, float v) {
    for (size_t i = 0; i < t->numel; i++) t->data[i] = v;
}

/* nn.Linear's reset_parameters: kaiming_uniform(a = sqrt(5)) on the
 * weight and the bias rule both give U(-1/sqrt(in), 1/sqrt(in)). */
static void init_linear(const pd_host_api *h, const pxd_linear *l, pd_rng *rng) {
    float bound = 1.0f / sqrtf((float)l->w->shape[1]);
    h->rng_uniform(rng, l->w->data, l->w->numel, -bound, bound);
    if (l->b) h->rng_uniform(rng, l->b->data, l->b->numel, -bound, bound);
}

/* PixDiT.initialize_weights zeroes only the final linear and every PiT
 * adaLN projection; everything else keeps PyTorch's default (spec 1.3). */
void pxd_params_init(pxd_state *s, pd_rng *rng) {
    const pd_host_api *h = s->host;
    init_linear(h, &s->embed, rng);
    for (int i = 0; i < s->plan.depth; i++) {
        pxd_block *b = &s->blocks[i];
        fill(b->ada.w, 0.0f), fill(b->ada.b, 0.0f);
        fill(b->norm1, 1.0f), fill(b->norm2, 1.0f), fill(b->q_norm, 1.0f), fill(b->k_norm, 1.0f);
        init_linear(h, &b->compress, rng);
        init_linear(h, &b->qkv, rng);
        init_linear(h, &b->proj, rng);
        init_linear(h, &b->expand, rng);
        init_linear(h, &b->fc1, rng);
        init_linear(h, &b->fc2, rng);
    }
    fill(s->final_norm, 1.0f);
    fill(s->final.w, 0.0f), fill(s->final.b, 0.0f);
}

/* Spec 1.3's per-block formula: AdaLN D*(n_mod P Dp) + n_mod P Dp;
 * compaction P Dp Da + Da; expansion Da P Dp + P Dp; attention 3 Da^2 +
 * Da^2 + Da + 2 hd; MLP Dp h + h + h Dp + Dp; norms 2 Dp. Plus the pixel
 * embedder C Dp + Dp and the final layer Dp + Dp C + C. */
double pxd_param_count(const pxd_plan *pl) {
    double D = pl->D, Dp = pl->Dp, Da = pl->Da, P = pl->P, h = pl->hidden, C = pl->C;
    double mod = pl->n_mod * P * Dp;
    double block = D * mod + mod + (P * Dp * Da + Da) + (Da * P * Dp + P * Dp) +
                   (4 * Da * Da + Da + 2 * pl->hd) + (2 * Dp * h + h + Dp) + 2 * Dp;
    return C * Dp + Dp + pl->depth * block + Dp + Dp * C + C;
}

/* 2 FLOPs per multiply-add of every linear and of the two attention
 * matmuls (q k^T and P v, 2 * 2 * L^2 * Da); norms, activations,
 * modulation, softmax and RoPE are not counted (as JiT's count). */
double pxd_flops(const pxd_plan *pl) {
    double L = pl->L, HW = (double)pl->H * pl->H, D = pl->D, Dp = pl->Dp, Da = pl->Da;
    double PD = (double)pl->P * Dp, h = pl->hidden;
    double block = 2 * L * D * pl->n_mod * PD           /* AdaLN projection */
                   + 2 * L * PD * Da                    /* compaction */
                   + 2 * L * Da * 3 * Da + 4 * L * L * Da /* qkv, q k^T, P v */
                   + 2 * L * Da * Da                    /* proj */
                   + 2 * L * Da * PD                    /* expansion */
                   + 2 * HW * 2 * Dp * h;               /* pixel MLP */
    return 2 * HW * pl->C * Dp + pl->depth * block + 2 * HW * Dp * pl->C;
}
