/* bench_attention: the flash_attn plugin against the host's sdpa, forward
 * (no-grad, as in sampling) and forward + backward, at JiT's token counts
 * and at pixel-level ones.
 *
 * usage: bench_attention PATH/flash_attn.so [--rounds R] [--block-q N] [--block-k N]
 *                        [--case NAME]
 *
 * Each round times both kernels once, alternating which goes first, so that
 * machine noise hits both alike; the table shows the median over rounds.
 * Memory is the step's arena high-water mark (pd_ctx_peak) in a fresh
 * context: inputs, output, their gradients and everything the kernel
 * allocates, which for sdpa includes the (N, M) probabilities of every head
 * kept for the backward. The backward is seeded with a fixed dL/do by a
 * small op, so the timed work is the attention and one copy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/bench.h"
#include "pixeldit/plugin_host.h"
#include "pixeldit/rng.h"
#include "pixeldit/runtime.h"

typedef struct {
    const char *name;
    int B, H, N, d;
} attn_case;

static const attn_case cases[] = {
    {"bench-s", 64, 3, 72, 64},  /* configs/bench-s.ini: 64 + 8 tokens, batch 64 */
    {"B/16", 4, 12, 288, 64},    /* JiT-B/16: 256 + 32 tokens, batch 4 */
    {"N=1024", 2, 8, 1024, 64},  /* pixel-level token counts */
    {"N=4096", 1, 4, 4096, 64},
};

typedef struct {
    const float *dy;
} seed_attr;

static pd_status seed_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)in, (void)n_in, (void)attr;
    out->data[0] = 0.0f;
    return PD_OK;
}

static pd_status seed_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)out, (void)n_in;
    if (in[0]->grad) memcpy(in[0]->grad, ((const seed_attr *)attr)->dy, in[0]->numel * sizeof(float));
    return PD_OK;
}

static const pd_op_def seed_op = {"bench_seed", seed_fwd, seed_bwd};

typedef struct {
    const pd_attention_vtable *vt; /* NULL: the host's sdpa */
    void *state;
} kernel;

/* One call (forward, or forward + backward) in ctx; returns seconds, or
 * -1 on error. */
static double step(const kernel *kn, pd_ctx *ctx, const attn_case *c, const float *src, bool bwd) {
    pd_ctx_reset(ctx);
    pd_ctx_set_grad_enabled(ctx, bwd);
    int sh[4] = {c->B, c->H, c->N, c->d};
    size_t n = pd_shape_numel(sh, 4);
    double t0 = pd_now_seconds();
    pd_tensor *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = pd_tensor_from(ctx, src + i * n, sh, 4); /* q, k, v (B, H, N, d) */
        if (t[i] && bwd) pd_tensor_set_requires_grad(ctx, t[i]);
    }
    float scale = 0.125f;
    pd_tensor *o = kn->vt ? kn->vt->forward(kn->state, ctx, t[0], t[1], t[2], scale)
                          : pd_sdpa(ctx, t[0], t[1], t[2], scale); /* (B, H, N, d) */
    if (o && bwd) {
        seed_attr sa = {src + 3 * n};
        pd_tensor *loss = pd_op_apply(ctx, &seed_op, &o, 1, NULL, 0, &sa, sizeof sa);
        if (!loss || pd_backward(ctx, loss)) o = NULL;
    }
    double dt = pd_now_seconds() - t0;
    if (!o) {
        fprintf(stderr, "bench_attention: %s\n", pd_ctx_error(ctx));
        return -1;
    }
    return dt;
}

static int bench_case(const attn_case *c, const kernel *kn, int rounds) {
    size_t n = (size_t)c->B * c->H * c->N * c->d;
    float *src = malloc(4 * n * sizeof(float)); /* q, k, v, dL/do */
    double *t[2][2] = {{0}};
    pd_ctx *ctx[2][2] = {{0}};
    int rc = 1;
    if (!src) goto out;
    pd_rng rng;
    pd_rng_seed(&rng, 1);
    pd_rng_fill_uniform(&rng, src, 3 * n, -1, 1);
    pd_rng_fill_uniform(&rng, src + 3 * n, n, -1e-3f, 1e-3f);
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 2; b++) {
            t[k][b] = calloc((size_t)rounds, sizeof(double));
            ctx[k][b] = pd_ctx_new(0);
            if (!t[k][b] || !ctx[k][b]) goto out;
            if (step(&kn[k], ctx[k][b], c, src, b) < 0) goto out; /* warm-up, sizes the arena */
        }
    for (int r = 0; r < rounds; r++)
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 2; i++) {
                int k = (r + i) % 2; /* alternate which kernel goes first */
                if ((t[k][b][r] = step(&kn[k], ctx[k][b], c, src, b)) < 0) goto out;
            }
    double med[2][2];
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 2; b++) med[k][b] = pd_bench_median(t[k][b], rounds);
    printf("| %-8s | %2d x %2d x %4d x %d | %8.2f | %8.2f | %5.2fx | %8.2f | %8.2f | %5.2fx | %8.1f | "
           "%8.1f |\n",
           c->name, c->B, c->H, c->N, c->d, 1e3 * med[0][0], 1e3 * med[1][0],
           med[0][0] / med[1][0], 1e3 * med[0][1], 1e3 * med[1][1], med[0][1] / med[1][1],
           (double)pd_ctx_peak(ctx[0][1]) / (1 << 20), (double)pd_ctx_peak(ctx[1][1]) / (1 << 20));
    fflush(stdout);
    rc = 0;
out:
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 2; b++) {
            free(t[k][b]);
            if (ctx[k][b]) pd_ctx_free(ctx[k][b]);
        }
    free(src);
    return rc;
}

int main(int argc, char **argv) {
    const char *path = NULL, *only = NULL, *bq = NULL, *bk = NULL;
    int rounds = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--rounds") && has) rounds = atoi(argv[++i]);
        else if (!strcmp(a, "--block-q") && has) bq = argv[++i];
        else if (!strcmp(a, "--block-k") && has) bk = argv[++i];
        else if (!strcmp(a, "--case") && has) only = argv[++i];
        else if (a[0] != '-' && !path) path = a;
        else {
            fprintf(stderr, "usage: bench_attention PATH/flash_attn.so [--rounds R] [--block-q N] "
                            "[--block-k N] [--case NAME]\n");
            return 2;
        }
    }
    if (!path || rounds < 1) {
        fprintf(stderr, "bench_attention: give the path of flash_attn.so and --rounds >= 1\n");
        return 2;
    }
    pd_plugin *pl;
    pd_plugin_config *cfg;
    pd_plugin_setting set[2];
    int ns = 0;
    if (bq) set[ns++] = (pd_plugin_setting){"block_q", bq, "command line", 0};
    if (bk) set[ns++] = (pd_plugin_setting){"block_k", bk, "command line", 0};
    pd_model_info info = {.struct_size = sizeof info, .num_heads = 1, .head_dim = 64};
    kernel kn[2] = {{NULL, NULL}};
    if (pd_plugin_load(path, PD_PLUGIN_ATTENTION, &pl) || pd_plugin_config_build(pl, "attention", set, ns, &cfg) ||
        pd_plugin_create_attention(pl, &info, cfg, &kn[1].state)) {
        fprintf(stderr, "bench_attention: %s\n", pd_last_error());
        return 1;
    }
    kn[1].vt = pd_plugin_attention_vtable(pl);
    printf("flash_attn block_q %s, block_k %s; median of %d rounds; times in ms, memory = arena "
           "peak of one forward + backward (MiB)\n\n",
           pd_plugin_config_text(cfg, "block_q"), pd_plugin_config_text(cfg, "block_k"), rounds);
    printf("| case | B x H x N x d | fwd sdpa | fwd flash | flash speed-up | fwd+bwd sdpa | "
           "fwd+bwd flash | flash speed-up | mem sdpa | mem flash |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    int rc = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases && !rc; i++)
        if (!only || !strcmp(only, cases[i].name)) rc = bench_case(&cases[i], kn, rounds);
    kn[1].vt->destroy(kn[1].state);
    pd_plugin_config_free(cfg);
    pd_plugins_unload_all();
    return rc;
}
