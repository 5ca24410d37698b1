/* Parameters of the DeCo decoder: registration under the official names
 * (spec deco.md 2.5) with the "decoder." prefix, so the names equal the
 * PyTorch reference module's in tests/golden/make_deco_goldens.py and the
 * `denoiser.` keys of a DeCo checkpoint; and DeCo's initialisation (2.6). */
#include <math.h>
#include <stdio.h>

#include "deco_decoder.h"

/* decoder.<stem>.weight (rows, cols) and decoder.<stem>.bias (rows). */
static bool add_linear(const deco_state *s, pd_params *params, const char *stem, int rows, int cols,
                       pd_tensor **w, pd_tensor **b) {
    char name[128];
    snprintf(name, sizeof name, "decoder.%s.weight", stem);
    *w = s->host->param_add(params, name, (int[]){rows, cols}, 2, 0);
    snprintf(name, sizeof name, "decoder.%s.bias", stem);
    *b = s->host->param_add(params, name, (int[]){rows}, 1, 0);
    return *w && *b;
}

pd_status deco_params_register(deco_state *s, pd_params *params) {
    const pd_host_api *h = s->host;
    int w = s->width, C = s->info.channels, p = s->info.patch_size, D = s->info.hidden_size;
    int F2 = s->max_freqs * s->max_freqs;
    bool ok = add_linear(s, params, "x_embedder.embedder.0", w, C + F2, &s->emb_w, &s->emb_b);
    ok = ok && add_linear(s, params, "dec_net.cond_embed", p * p * w, D, &s->cond_w, &s->cond_b);
    ok = ok && add_linear(s, params, "dec_net.input_proj", w, w, &s->in_w, &s->in_b);
    char stem[64];
    for (int j = 0; j < s->depth && ok; j++) {
        deco_block *bk = &s->blocks[j];
        snprintf(stem, sizeof stem, "decoder.dec_net.res_blocks.%d.in_ln.weight", j);
        bk->ln_w = h->param_add(params, stem, (int[]){w}, 1, 0);
        snprintf(stem, sizeof stem, "decoder.dec_net.res_blocks.%d.in_ln.bias", j);
        bk->ln_b = h->param_add(params, stem, (int[]){w}, 1, 0);
        ok = bk->ln_w && bk->ln_b;
        snprintf(stem, sizeof stem, "dec_net.res_blocks.%d.mlp.0", j);
        ok = ok && add_linear(s, params, stem, w, w, &bk->fc1_w, &bk->fc1_b);
        snprintf(stem, sizeof stem, "dec_net.res_blocks.%d.mlp.2", j);
        ok = ok && add_linear(s, params, stem, w, w, &bk->fc2_w, &bk->fc2_b);
        snprintf(stem, sizeof stem, "dec_net.res_blocks.%d.adaLN_modulation.1", j);
        ok = ok && add_linear(s, params, stem, 3 * w, w, &bk->ada_w, &bk->ada_b);
    }
    ok = ok && add_linear(s, params, "dec_net.final_layer.linear", C, w, &s->out_w, &s->out_b);
    return ok ? PD_OK : PD_ERR_PLUGIN; /* the host set the message */
}

static void fill(pd_tensor *t, float v) {
    for (size_t i = 0; i < t->numel; i++) t->data[i] = v;
}

/* torch.nn.init.xavier_uniform_ on a (out, in) weight, zero bias. */
static void xavier(const pd_host_api *h, pd_tensor *w, pd_tensor *b, pd_rng *rng) {
    float bound = sqrtf(6.0f / (float)(w->shape[0] + w->shape[1]));
    h->rng_uniform(rng, w->data, w->numel, -bound, bound);
    fill(b, 0.0f);
}

void deco_params_init(deco_state *s, pd_rng *rng) {
    const pd_host_api *h = s->host;
    /* x_embedder is outside dec_net: nn.Linear's default init, which gives
     * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias alike */
    float bound = 1.0f / sqrtf((float)s->emb_w->shape[1]);
    h->rng_uniform(rng, s->emb_w->data, s->emb_w->numel, -bound, bound);
    h->rng_uniform(rng, s->emb_b->data, s->emb_b->numel, -bound, bound);
    /* dec_net: SimpleMLPAdaLN.initialize_weights */
    xavier(h, s->cond_w, s->cond_b, rng);
    xavier(h, s->in_w, s->in_b, rng);
    for (int j = 0; j < s->depth; j++) {
        deco_block *bk = &s->blocks[j];
        fill(bk->ln_w, 1.0f), fill(bk->ln_b, 0.0f);
        xavier(h, bk->fc1_w, bk->fc1_b, rng);
        xavier(h, bk->fc2_w, bk->fc2_b, rng);
        fill(bk->ada_w, 0.0f), fill(bk->ada_b, 0.0f); /* adaLN-Zero: blocks start as identity */
    }
    fill(s->out_w, 0.0f), fill(s->out_b, 0.0f);       /* decoder output exactly 0 */
}
