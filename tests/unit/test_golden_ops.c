/* Parity with PyTorch: every op golden under tests/golden/ops and the JiT
 * block golden under tests/golden/blocks (made by make_goldens.py).
 *
 * For each file: load the inputs, run the pixeldit op(s), compare `out`;
 * then backprop sum(out * gy) (built with pd_mul + pd_sum) and compare each
 * `grad.<input>`. The test is |c - t| <= tol * max(1, |t|), tol 1e-5 unless
 * a case says why it needs more. Usage: test_golden_ops [golden_dir]
 * (default $PIXELDIT_TEST_DIR/golden).
 */
#include <dirent.h>

#include "test_util.h"
#include "pixeldit/safetensors.h"

/* Ops are referenced weakly so that this test links while some are still
 * being written: a missing op is then NULL here and its golden FAILS with
 * "not implemented" (never skipped), instead of the whole binary failing
 * to link and hiding the goldens that do pass. */
#pragma weak pd_linear
#pragma weak pd_matmul
#pragma weak pd_add
#pragma weak pd_sub
#pragma weak pd_mul
#pragma weak pd_div
#pragma weak pd_affine
#pragma weak pd_modulate
#pragma weak pd_gated_residual
#pragma weak pd_silu
#pragma weak pd_gelu
#pragma weak pd_swiglu
#pragma weak pd_softmax
#pragma weak pd_rmsnorm
#pragma weak pd_layernorm
#pragma weak pd_sdpa
#pragma weak pd_rope_table_init_2d
#pragma weak pd_rope_table_free
#pragma weak pd_rope
#pragma weak pd_embedding
#pragma weak pd_concat
#pragma weak pd_slice
#pragma weak pd_reshape
#pragma weak pd_permute
#pragma weak pd_patchify
#pragma weak pd_unpatchify
#pragma weak pd_conv2d
#pragma weak pd_conv_transpose2x2
#pragma weak pd_maxpool2x2
#pragma weak pd_upsample_bilinear
#pragma weak pd_sum
#pragma weak pd_mean
#pragma weak pd_sum_axis
#pragma weak pd_mean_axis
#pragma weak pd_mse
#pragma weak pd_sqrt
#pragma weak pd_abs
#pragma weak pd_exp
#pragma weak pd_log
#pragma weak pd_tanh
#pragma weak pd_sigmoid
#pragma weak pd_clamp
#pragma weak pd_pow
#pragma weak pd_pixel_shuffle
#pragma weak pd_pixel_unshuffle
#pragma weak pd_upsample_nearest
#pragma weak pd_conv2d_grouped

static char golden_dir[1024];

/* One loaded golden: the file, the step context and the input tensors. */
typedef struct {
    const char *name;
    pd_st_file *f;
    pd_ctx *ctx;
    int n_in;
    char in_names[24][64];
    pd_tensor *in[24];  /* NULL for integer inputs (ids) */
    pd_rope_table rope; /* built by rope cases, freed after backward */
    bool has_rope;
} golden;

typedef pd_tensor *(*build_fn)(golden *g);

/* ---- access to inputs and attributes ----------------------------------------- */

#define NEED(g, fn)                                                                       \
    do {                                                                                  \
        if (!(fn)) {                                                                      \
            pd_ctx_fail((g)->ctx, PD_ERR_STATE, "%s is not implemented in libpixeldit", #fn); \
            return NULL;                                                                  \
        }                                                                                 \
    } while (0)

static pd_tensor *in(golden *g, const char *name) {
    for (int i = 0; i < g->n_in; i++)
        if (strcmp(g->in_names[i], name) == 0) {
            if (!g->in[i]) fail_msg("%s: input '%s' is not a float tensor", g->name, name);
            return g->in[i];
        }
    fail_msg("%s: no input '%s' in %s", g->name, name, pd_st_path(g->f));
    return NULL;
}

static const char *attr(golden *g, const char *key) {
    const char *v = pd_st_metadata(g->f, key);
    if (!v) fail_msg("%s: metadata '%s' missing", g->name, key);
    return v;
}

static int attr_int(golden *g, const char *key) { return atoi(attr(g, key)); }
static float attr_float(golden *g, const char *key) { return strtof(attr(g, key), NULL); }

/* "0,2,1,3" -> ints; returns the count. */
static int attr_ints(golden *g, const char *key, int *out, int max) {
    const char *s = attr(g, key);
    int n = 0;
    while (*s && n < max) {
        char *end;
        out[n++] = (int)strtol(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* F32 tensor `name` of the file as a new arena tensor with the file's shape. */
static pd_tensor *load(golden *g, const char *name) {
    const pd_st_tensor *t = pd_st_find(g->f, name);
    if (!t) fail_msg("%s: tensor '%s' missing from %s", g->name, name, pd_st_path(g->f));
    if (t->dtype != PD_ST_F32 || t->ndim > PD_MAX_DIMS)
        fail_msg("%s: tensor '%s' is %s rank %d, expected F32 rank <= %d", g->name, name,
                 pd_st_dtype_name(t->dtype), t->ndim, PD_MAX_DIMS);
    pd_tensor *x = pd_tensor_empty(g->ctx, t->shape, t->ndim);
    if (!x) fail_msg("%s: %s", g->name, pd_ctx_error(g->ctx));
    if (pd_st_read_f32(g->f, name, x->data, t->shape, t->ndim)) fail_msg("%s", pd_last_error());
    return x;
}

/* ---- op cases: each rebuilds one torch expression from make_goldens.py ---- */

static pd_tensor *b_linear(golden *g) {
    NEED(g, pd_linear);
    return pd_linear(g->ctx, in(g, "x"), in(g, "w"), g->n_in > 2 ? in(g, "b") : NULL);
}

static pd_tensor *b_matmul(golden *g) {
    NEED(g, pd_matmul);
    return pd_matmul(g->ctx, in(g, "a"), in(g, "b"), attr_int(g, "trans"));
}

static pd_tensor *b_binary(golden *g) {
    const char *op = attr(g, "op");
    pd_tensor *(*fn)(pd_ctx *, pd_tensor *, pd_tensor *) =
        !strcmp(op, "add") ? pd_add : !strcmp(op, "sub") ? pd_sub
        : !strcmp(op, "mul") ? pd_mul : pd_div;
    if (!fn) {
        pd_ctx_fail(g->ctx, PD_ERR_STATE, "pd_%s is not implemented in libpixeldit", op);
        return NULL;
    }
    return fn(g->ctx, in(g, "a"), in(g, "b"));
}

static pd_tensor *b_affine(golden *g) {
    NEED(g, pd_affine);
    return pd_affine(g->ctx, in(g, "x"), attr_float(g, "alpha"), attr_float(g, "beta"));
}

static pd_tensor *b_modulate(golden *g) {
    NEED(g, pd_modulate);
    pd_tensor *shift = pd_st_find(g->f, "shift") ? in(g, "shift") : NULL;
    return pd_modulate(g->ctx, in(g, "x"), shift, in(g, "scale"));
}

static pd_tensor *b_gated(golden *g) {
    NEED(g, pd_gated_residual);
    return pd_gated_residual(g->ctx, in(g, "x"), in(g, "gate"), in(g, "h"));
}

static pd_tensor *b_silu(golden *g) {
    NEED(g, pd_silu);
    return pd_silu(g->ctx, in(g, "x"));
}

static pd_tensor *b_gelu(golden *g) {
    NEED(g, pd_gelu);
    return pd_gelu(g->ctx, in(g, "x"), attr_int(g, "tanh") != 0);
}

static pd_tensor *b_swiglu(golden *g) {
    NEED(g, pd_swiglu);
    return pd_swiglu(g->ctx, in(g, "x"));
}

static pd_tensor *b_softmax(golden *g) {
    NEED(g, pd_softmax);
    return pd_softmax(g->ctx, in(g, "x"));
}

static pd_tensor *b_rmsnorm(golden *g) {
    NEED(g, pd_rmsnorm);
    pd_tensor *w = g->n_in > 1 ? in(g, "w") : NULL;
    return pd_rmsnorm(g->ctx, in(g, "x"), w, attr_float(g, "eps"));
}

static pd_tensor *b_layernorm(golden *g) {
    NEED(g, pd_layernorm);
    bool affine = g->n_in > 1;
    return pd_layernorm(g->ctx, in(g, "x"), affine ? in(g, "w") : NULL,
                        affine ? in(g, "b") : NULL, attr_float(g, "eps"));
}

static pd_tensor *b_sdpa(golden *g) {
    NEED(g, pd_sdpa);
    return pd_sdpa(g->ctx, in(g, "q"), in(g, "k"), in(g, "v"), attr_float(g, "scale"));
}

/* Builds the JiT 2D table from the file's grid / prefix / theta and the
 * head dim of x; it lives until the case ends (backward reads it). */
static const pd_rope_table *rope_table(golden *g, int grid_h, int grid_w, int dim) {
    if (!pd_rope_table_init_2d || !pd_rope_table_free) return NULL;
    pd_status s = pd_rope_table_init_2d(&g->rope, grid_h, grid_w, dim, attr_int(g, "n_prefix"),
                                        attr_float(g, "theta"));
    if (s) {
        pd_ctx_fail(g->ctx, s, "rope table: %s", pd_last_error());
        return NULL;
    }
    g->has_rope = true;
    return &g->rope;
}

static pd_tensor *b_rope(golden *g) {
    NEED(g, pd_rope);
    NEED(g, pd_rope_table_init_2d);
    pd_tensor *x = in(g, "x");
    const pd_rope_table *tab =
        rope_table(g, attr_int(g, "grid_h"), attr_int(g, "grid_w"), pd_dim(x, -1));
    return tab ? pd_rope(g->ctx, x, tab) : NULL;
}

static pd_tensor *b_embedding(golden *g) {
    NEED(g, pd_embedding);
    const pd_st_tensor *ids = pd_st_find(g->f, "ids");
    if (!ids || ids->dtype != PD_ST_I64 || ids->ndim != 1) fail_msg("%s: ids must be I64 (n,)", g->name);
    int n = (int)ids->numel, idx[64];
    if (n > 64) fail_msg("%s: too many ids", g->name);
    for (int i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, (const char *)ids->data + 8 * i, 8);
        idx[i] = (int)v;
    }
    return pd_embedding(g->ctx, in(g, "table"), idx, n);
}

static pd_tensor *b_concat(golden *g) {
    NEED(g, pd_concat);
    return pd_concat(g->ctx, g->in, g->n_in, attr_int(g, "axis"));
}

static pd_tensor *b_slice(golden *g) {
    NEED(g, pd_slice);
    return pd_slice(g->ctx, in(g, "x"), attr_int(g, "axis"), attr_int(g, "start"),
                    attr_int(g, "len"));
}

static pd_tensor *b_permute(golden *g) {
    NEED(g, pd_permute);
    int perm[PD_MAX_DIMS];
    attr_ints(g, "perm", perm, PD_MAX_DIMS);
    return pd_permute(g->ctx, in(g, "x"), perm);
}

static pd_tensor *b_reshape(golden *g) {
    NEED(g, pd_reshape);
    int shape[PD_MAX_DIMS];
    int n = attr_ints(g, "shape", shape, PD_MAX_DIMS);
    return pd_reshape(g->ctx, in(g, "x"), shape, n);
}

static pd_patch_layout layout(golden *g) {
    return strcmp(attr(g, "layout"), "jit") == 0 ? PD_PATCH_JIT : PD_PATCH_UNFOLD;
}

static pd_tensor *b_patchify(golden *g) {
    NEED(g, pd_patchify);
    return pd_patchify(g->ctx, in(g, "x"), attr_int(g, "p"), layout(g));
}

static pd_tensor *b_unpatchify(golden *g) {
    NEED(g, pd_unpatchify);
    return pd_unpatchify(g->ctx, in(g, "x"), attr_int(g, "C"), attr_int(g, "H"), attr_int(g, "W"),
                         attr_int(g, "p"), layout(g));
}

static pd_tensor *b_conv2d(golden *g) {
    NEED(g, pd_conv2d);
    pd_tensor *b = g->n_in > 2 ? in(g, "b") : NULL;
    return pd_conv2d(g->ctx, in(g, "x"), in(g, "w"), b, attr_int(g, "stride"), attr_int(g, "pad"));
}

static pd_tensor *b_convt(golden *g) {
    NEED(g, pd_conv_transpose2x2);
    return pd_conv_transpose2x2(g->ctx, in(g, "x"), in(g, "w"), in(g, "b"));
}

static pd_tensor *b_maxpool(golden *g) {
    NEED(g, pd_maxpool2x2);
    return pd_maxpool2x2(g->ctx, in(g, "x"));
}

static pd_tensor *b_upsample(golden *g) {
    NEED(g, pd_upsample_bilinear);
    return pd_upsample_bilinear(g->ctx, in(g, "x"), attr_int(g, "out_h"), attr_int(g, "out_w"),
                                attr_int(g, "align_corners") != 0);
}

static pd_tensor *b_sum(golden *g) {
    NEED(g, pd_sum);
    return pd_sum(g->ctx, in(g, "x"));
}

static pd_tensor *b_mean(golden *g) {
    NEED(g, pd_mean);
    return pd_mean(g->ctx, in(g, "x"));
}

static pd_tensor *b_sum_axis(golden *g) {
    NEED(g, pd_sum_axis);
    return pd_sum_axis(g->ctx, in(g, "x"), attr_int(g, "axis"));
}

static pd_tensor *b_mean_axis(golden *g) {
    NEED(g, pd_mean_axis);
    return pd_mean_axis(g->ctx, in(g, "x"), attr_int(g, "axis"));
}

static pd_tensor *b_mse(golden *g) {
    NEED(g, pd_mse);
    return pd_mse(g->ctx, in(g, "a"), in(g, "b"));
}

/* The one-input elementwise maths, chosen by the file's op name. */
static pd_tensor *b_unary(golden *g) {
    static const struct {
        const char *op;
        pd_tensor *(*fn)(pd_ctx *, pd_tensor *);
    } fns[] = {{"sqrt", pd_sqrt}, {"abs", pd_abs}, {"exp", pd_exp}, {"log", pd_log},
               {"tanh", pd_tanh}, {"sigmoid", pd_sigmoid}};
    const char *op = attr(g, "op");
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (!strcmp(op, fns[i].op)) {
            if (!fns[i].fn) {
                pd_ctx_fail(g->ctx, PD_ERR_STATE, "pd_%s is not implemented in libpixeldit", op);
                return NULL;
            }
            return fns[i].fn(g->ctx, in(g, "x"));
        }
    fail_msg("%s: unknown unary op '%s'", g->name, op);
    return NULL;
}

static pd_tensor *b_clamp(golden *g) {
    NEED(g, pd_clamp);
    return pd_clamp(g->ctx, in(g, "x"), attr_float(g, "lo"), attr_float(g, "hi"));
}

static pd_tensor *b_pow(golden *g) {
    NEED(g, pd_pow);
    return pd_pow(g->ctx, in(g, "x"), attr_float(g, "exponent"));
}

static pd_tensor *b_pixel_shuffle(golden *g) {
    NEED(g, pd_pixel_shuffle);
    return pd_pixel_shuffle(g->ctx, in(g, "x"), attr_int(g, "r"));
}

static pd_tensor *b_pixel_unshuffle(golden *g) {
    NEED(g, pd_pixel_unshuffle);
    return pd_pixel_unshuffle(g->ctx, in(g, "x"), attr_int(g, "r"));
}

static pd_tensor *b_upsample_nearest(golden *g) {
    NEED(g, pd_upsample_nearest);
    return pd_upsample_nearest(g->ctx, in(g, "x"), attr_int(g, "fh"), attr_int(g, "fw"));
}

static pd_tensor *b_conv2d_grouped(golden *g) {
    NEED(g, pd_conv2d_grouped);
    pd_tensor *b = g->n_in > 2 ? in(g, "b") : NULL;
    return pd_conv2d_grouped(g->ctx, in(g, "x"), in(g, "w"), b, attr_int(g, "stride"),
                             attr_int(g, "pad"), attr_int(g, "groups"));
}

/* ---- the JiT block (jit.md 1.7) from pd_* ops ---------------------------------- */

static pd_tensor *b_jit_block(golden *g) {
    NEED(g, pd_linear);
    NEED(g, pd_silu);
    NEED(g, pd_slice);
    NEED(g, pd_rmsnorm);
    NEED(g, pd_modulate);
    NEED(g, pd_reshape);
    NEED(g, pd_permute);
    NEED(g, pd_rope);
    NEED(g, pd_rope_table_init_2d);
    NEED(g, pd_sdpa);
    NEED(g, pd_gated_residual);
    NEED(g, pd_swiglu);
    pd_ctx *ctx = g->ctx;
    pd_tensor *x = in(g, "x"); /* (B, N, D), N = n_prefix + grid^2 */
    pd_tensor *c = in(g, "c"); /* (B, D) */
    int B = pd_dim(x, 0), N = pd_dim(x, 1), D = pd_dim(x, 2);
    int H = attr_int(g, "heads"), hd = D / H, grid = attr_int(g, "grid");
    float eps = attr_float(g, "eps");

    /* adaLN-Zero: Linear(SiLU(c)) (B, 6D) -> shift/scale/gate for msa, mlp */
    pd_tensor *mod = pd_linear(ctx, pd_silu(ctx, c), in(g, "adaLN_modulation.1.weight"),
                               in(g, "adaLN_modulation.1.bias"));
    pd_tensor *chunk[6]; /* each (B, D) */
    for (int i = 0; i < 6; i++) chunk[i] = pd_slice(ctx, mod, -1, i * D, D);

    /* attention branch */
    pd_tensor *h = pd_modulate(ctx, pd_rmsnorm(ctx, x, in(g, "norm1.weight"), eps), chunk[0],
                               chunk[1]);                                  /* (B, N, D) */
    pd_tensor *qkv = pd_linear(ctx, h, in(g, "attn.qkv.weight"), in(g, "attn.qkv.bias"));
    qkv = pd_reshape(ctx, qkv, (int[]){B, N, 3, H, hd}, 5);
    qkv = pd_permute(ctx, qkv, (int[]){2, 0, 3, 1, 4});                    /* (3, B, H, N, hd) */
    const pd_rope_table *tab = rope_table(g, grid, grid, hd);
    pd_tensor *qkv_i[3];
    for (int i = 0; i < 3; i++)
        qkv_i[i] = pd_reshape(ctx, pd_slice(ctx, qkv, 0, i, 1), (int[]){B, H, N, hd}, 4);
    if (!tab) return NULL;
    pd_tensor *q = pd_rope(ctx, pd_rmsnorm(ctx, qkv_i[0], in(g, "attn.q_norm.weight"), eps), tab);
    pd_tensor *k = pd_rope(ctx, pd_rmsnorm(ctx, qkv_i[1], in(g, "attn.k_norm.weight"), eps), tab);
    pd_tensor *a = pd_sdpa(ctx, q, k, qkv_i[2], 1.0f / sqrtf((float)hd)); /* (B, H, N, hd) */
    a = pd_reshape(ctx, pd_permute(ctx, a, (int[]){0, 2, 1, 3}), (int[]){B, N, D}, 3);
    a = pd_linear(ctx, a, in(g, "attn.proj.weight"), in(g, "attn.proj.bias"));
    x = pd_gated_residual(ctx, x, chunk[2], a);

    /* MLP branch: SwiGLU (gate = first half of w12's output) */
    h = pd_modulate(ctx, pd_rmsnorm(ctx, x, in(g, "norm2.weight"), eps), chunk[3], chunk[4]);
    pd_tensor *m = pd_swiglu(ctx, pd_linear(ctx, h, in(g, "mlp.w12.weight"), in(g, "mlp.w12.bias")));
    m = pd_linear(ctx, m, in(g, "mlp.w3.weight"), in(g, "mlp.w3.bias"));
    return pd_gated_residual(ctx, x, chunk[5], m);                         /* (B, N, D) */
}

/* ---- case table ------------------------------------------------------------------ */

typedef struct {
    const char *file; /* relative to the golden dir, without .safetensors */
    build_fn build;
    double tol;       /* |c - t| <= tol * max(1, |t|) */
} golden_case;

#define T 1e-5
static const golden_case cases[] = {
    {"ops/linear", b_linear, T},
    {"ops/linear_nobias", b_linear, T},
    {"ops/matmul", b_matmul, T},
    {"ops/matmul_ta", b_matmul, T},
    {"ops/matmul_tb", b_matmul, T},
    {"ops/matmul_tab", b_matmul, T},
    {"ops/matmul_shared", b_matmul, T},
    {"ops/matmul_4d_tb", b_matmul, T},
    {"ops/add_bcast", b_binary, T},
    {"ops/add_same", b_binary, T},
    {"ops/add_both", b_binary, T},
    {"ops/add_row", b_binary, T},
    {"ops/sub_bcast", b_binary, T},
    {"ops/sub_same", b_binary, T},
    {"ops/sub_both", b_binary, T},
    {"ops/mul_bcast", b_binary, T},
    {"ops/mul_same", b_binary, T},
    {"ops/mul_both", b_binary, T},
    {"ops/div_bcast", b_binary, T},
    {"ops/div_same", b_binary, T},
    {"ops/div_both", b_binary, T},
    {"ops/div_lhs_bcast", b_binary, T},
    {"ops/affine", b_affine, T},
    {"ops/modulate_sample", b_modulate, T},
    {"ops/modulate_sample_4d", b_modulate, T},
    {"ops/modulate_pixel", b_modulate, T},
    {"ops/modulate_noshift", b_modulate, T},
    {"ops/gated_residual_sample", b_gated, T},
    {"ops/gated_residual_pixel", b_gated, T},
    {"ops/silu", b_silu, T},
    {"ops/gelu", b_gelu, T},
    {"ops/gelu_tanh", b_gelu, T},
    {"ops/swiglu", b_swiglu, T},
    {"ops/softmax", b_softmax, T},
    {"ops/rmsnorm", b_rmsnorm, T},
    {"ops/rmsnorm_nw", b_rmsnorm, T},
    {"ops/layernorm", b_layernorm, T},
    {"ops/layernorm_na", b_layernorm, T},
    {"ops/sdpa", b_sdpa, T},
    {"ops/sdpa_scale", b_sdpa, T},
    {"ops/rope", b_rope, T},
    {"ops/rope_prefix", b_rope, T},
    {"ops/rope_d12", b_rope, T},
    {"ops/embedding", b_embedding, T},
    {"ops/concat", b_concat, T},
    {"ops/concat_last", b_concat, T},
    {"ops/slice", b_slice, T},
    {"ops/slice_last", b_slice, T},
    {"ops/permute", b_permute, T},
    {"ops/permute_mix", b_permute, T},
    {"ops/reshape", b_reshape, T},
    {"ops/patchify_jit", b_patchify, T},
    {"ops/unpatchify_jit", b_unpatchify, T},
    {"ops/patchify_unfold", b_patchify, T},
    {"ops/unpatchify_unfold", b_unpatchify, T},
    {"ops/conv2d_s2", b_conv2d, T},
    {"ops/conv2d_3x3", b_conv2d, T},
    {"ops/conv2d_patch", b_conv2d, T},
    {"ops/conv_transpose2x2", b_convt, T},
    {"ops/maxpool2x2", b_maxpool, T},
    {"ops/upsample_bilinear", b_upsample, T},
    {"ops/upsample_bilinear_ac", b_upsample, T},
    {"ops/downsample_bilinear", b_upsample, T},
    {"ops/downsample_bilinear_ac", b_upsample, T},
    {"ops/sum", b_sum, T},
    {"ops/mean", b_mean, T},
    {"ops/sum_axis", b_sum_axis, T},
    {"ops/mean_axis", b_mean_axis, T},
    {"ops/mse", b_mse, T},
    {"ops/sqrt", b_unary, T},
    {"ops/abs", b_unary, T},
    {"ops/exp", b_unary, T},
    {"ops/log", b_unary, T},
    {"ops/tanh", b_unary, T},
    {"ops/sigmoid", b_unary, T},
    {"ops/clamp", b_clamp, T},
    {"ops/pow2", b_pow, T},
    {"ops/pow3", b_pow, T},
    {"ops/pow1_5", b_pow, T},
    {"ops/pow_neg0_5", b_pow, T},
    {"ops/pixel_shuffle", b_pixel_shuffle, T},
    {"ops/pixel_shuffle_r3", b_pixel_shuffle, T},
    {"ops/pixel_unshuffle", b_pixel_unshuffle, T},
    {"ops/upsample_nearest", b_upsample_nearest, T},
    {"ops/conv2d_grouped", b_conv2d_grouped, T},
    {"ops/conv2d_depthwise", b_conv2d_grouped, T},
    /* ~20 chained ops with two norms, softmax and both residual branches:
     * on these inputs torch's own fp32 gradients are up to 1e-5 (scaled)
     * away from a float64 run, so two correct fp32 implementations can
     * differ by ~2e-5; a real bug shows up at 1e-2 or more. */
    {"blocks/jit_block", b_jit_block, 1e-4},
};
#undef T
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- running one golden ------------------------------------------------------------ */

typedef struct {
    double max_abs, max_scaled; /* scaled = |c - t| / max(1, |t|) */
} err_stats;

/* Compares c to torch's t; on the first element over tolerance fails the
 * test naming the case, the tensor, the index and both values. */
static void compare(const golden *g, const char *what, const float *c, const float *t, size_t n,
                    double tol, err_stats *st) {
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)c[i] - (double)t[i]);
        double scaled = d / fmax(1.0, fabs((double)t[i]));
        if (!(scaled <= tol)) /* also catches NaN */
            fail_msg("%s: %s[%zu] = %.9g, torch %.9g: |diff| %.3g > %.0e * max(1, |t|)", g->name,
                     what, i, (double)c[i], (double)t[i], d, tol);
        if (d > st->max_abs) st->max_abs = d;
        if (scaled > st->max_scaled) st->max_scaled = scaled;
    }
}

static void check_shape(const golden *g, const char *what, const pd_tensor *c,
                        const pd_st_tensor *t) {
    bool same = c->ndim == t->ndim;
    for (int i = 0; same && i < c->ndim; i++) same = c->shape[i] == t->shape[i];
    if (!same) {
        char cs[80], ts[200];
        fail_msg("%s: %s has shape %s, torch %s", g->name, what, pd_shape_str(c, cs, sizeof cs),
                 pd_st_describe(t, ts, sizeof ts));
    }
}

/* Loads the inputs listed in metadata "inputs"; float inputs with a stored
 * gradient require grad. */
static void load_inputs(golden *g) {
    const char *list = attr(g, "inputs");
    while (*list) {
        const char *comma = strchr(list, ',');
        size_t len = comma ? (size_t)(comma - list) : strlen(list);
        if (g->n_in == 24 || len >= sizeof g->in_names[0]) fail_msg("%s: bad inputs list", g->name);
        char *name = g->in_names[g->n_in];
        memcpy(name, list, len);
        name[len] = '\0';
        const pd_st_tensor *t = pd_st_find(g->f, name);
        if (!t) fail_msg("%s: input '%s' missing", g->name, name);
        pd_tensor *x = NULL;
        if (t->dtype == PD_ST_F32) {
            x = load(g, name);
            char gname[80];
            snprintf(gname, sizeof gname, "grad.%s", name);
            if (pd_st_find(g->f, gname)) pd_tensor_set_requires_grad(g->ctx, x);
        }
        g->in[g->n_in++] = x;
        list += len + (comma ? 1 : 0);
    }
}

static void run_golden(void **state) {
    const golden_case *gc = *state;
    golden g = {.name = gc->file};
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.safetensors", golden_dir, gc->file);
    if (pd_st_open(path, &g.f) != PD_OK) fail_msg("%s", pd_last_error());
    g.ctx = pd_ctx_new(1 << 22);
    load_inputs(&g);

    pd_tensor *out = gc->build(&g);
    if (!out || pd_ctx_status(g.ctx)) fail_msg("%s: %s", g.name, pd_ctx_error(g.ctx));
    const pd_st_tensor *want = pd_st_find(g.f, "out");
    check_shape(&g, "out", out, want);
    err_stats out_err = {0}, grad_err = {0};
    pd_tensor *ref = load(&g, "out");
    compare(&g, "out", out->data, ref->data, out->numel, gc->tol, &out_err);

    /* backward of sum(out * gy) */
    if (!pd_mul || !pd_sum) fail_msg("%s: pd_mul / pd_sum not implemented", g.name);
    pd_tensor *loss = pd_sum(g.ctx, pd_mul(g.ctx, out, load(&g, "gy")));
    if (!loss || pd_backward(g.ctx, loss) != PD_OK)
        fail_msg("%s: backward: %s", g.name, pd_ctx_error(g.ctx));
    int n_grads = 0;
    for (int i = 0; i < g.n_in; i++) {
        if (!g.in[i] || !g.in[i]->grad) continue;
        char gname[80];
        snprintf(gname, sizeof gname, "grad.%s", g.in_names[i]);
        check_shape(&g, gname, g.in[i], pd_st_find(g.f, gname));
        compare(&g, gname, g.in[i]->grad, load(&g, gname)->data, g.in[i]->numel, gc->tol,
                &grad_err);
        n_grads++;
    }
    print_message("  %-28s out  abs %.1e rel %.1e | %2d grads abs %.1e rel %.1e (tol %.0e)\n",
                  g.name, out_err.max_abs, out_err.max_scaled, n_grads, grad_err.max_abs,
                  grad_err.max_scaled, gc->tol);
    if (g.has_rope) pd_rope_table_free(&g.rope);
    pd_ctx_free(g.ctx);
    pd_st_close(g.f);
}

/* Every file in ops/ and blocks/ must have a case: a golden nobody checks
 * would pass silently. */
static void every_golden_file_is_checked(void **state) {
    (void)state;
    const char *subdirs[] = {"ops", "blocks"};
    int files = 0;
    for (int s = 0; s < 2; s++) {
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/%s", golden_dir, subdirs[s]);
        DIR *d = opendir(dir);
        if (!d) fail_msg("cannot open golden directory %s", dir);
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *ext = strstr(e->d_name, ".safetensors");
            if (!ext || ext[12]) continue;
            char rel[300];
            snprintf(rel, sizeof rel, "%s/%.*s", subdirs[s], (int)(ext - e->d_name), e->d_name);
            bool found = false;
            for (int i = 0; i < N_CASES && !found; i++) found = strcmp(cases[i].file, rel) == 0;
            if (!found) fail_msg("golden %s.safetensors has no case in test_golden_ops.c", rel);
            files++;
        }
        closedir(d);
    }
    assert_int_equal(files, N_CASES);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : NULL;
    if (dir) snprintf(golden_dir, sizeof golden_dir, "%s", dir);
    else if (getenv("PIXELDIT_TEST_DIR"))
        snprintf(golden_dir, sizeof golden_dir, "%s/golden", getenv("PIXELDIT_TEST_DIR"));
    else {
        fprintf(stderr, "usage: %s GOLDEN_DIR (or set PIXELDIT_TEST_DIR)\n", argv[0]);
        return 2;
    }
    pd_set_num_threads(1);
    struct CMUnitTest tests[N_CASES + 1];
    tests[0] = (struct CMUnitTest)cmocka_unit_test(every_golden_file_is_checked);
    for (int i = 0; i < N_CASES; i++)
        tests[i + 1] = (struct CMUnitTest){cases[i].file, run_golden, NULL, NULL,
                                           (void *)&cases[i]};
    return _cmocka_run_group_tests("golden", tests, N_CASES + 1, NULL, NULL);
}
