/* Shape and spatial ops: embedding, concat, slice, reshape, permute,
 * patchify/unpatchify, conv2d (plain and grouped), conv_transpose2x2,
 * maxpool2x2, bilinear and nearest upsample, pixel shuffle / unshuffle. Finite-difference gradient checks for each, plus exact forward
 * checks against hand-computed values, naive loops and torch goldens. */
#include "test_util.h"

/* ---- helpers ----------------------------------------------------------------- */


/* Fills buf with a random permutation of 0, step, 2*step, ... shifted to
 * be centred: distinct values far apart, so max never flips under eps. */
static void fill_distinct(float *buf, size_t n, float step, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) buf[i] = ((float)i - (float)n / 2) * step;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = pd_rng_below(&r, (uint32_t)(i + 1));
        float t = buf[i];
        buf[i] = buf[j];
        buf[j] = t;
    }
}

static void assert_close(const float *got, const float *want, size_t n, float tol, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= tol))
            fail_msg("%s[%zu]: got %.7g, want %.7g (tol %g)", what, i, got[i], want[i], tol);
}

static pd_tensor *leaf(pd_ctx *ctx, const float *data, const int *shape, int ndim, bool grad) {
    pd_tensor *t = pd_tensor_from(ctx, data, shape, ndim);
    assert_non_null(t);
    if (grad) assert_int_equal(pd_tensor_set_requires_grad(ctx, t), PD_OK);
    return t;
}

/* ---- embedding --------------------------------------------------------------- */

typedef struct { const int *ids; int n; } ids_arg;

static pd_tensor *f_embedding(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n;
    const ids_arg *a = u;
    return pd_embedding(ctx, x[0], a->ids, a->n);
}

static void test_embedding(void **state) {
    (void)state;
    int ids[5] = {3, 0, 3, 6, 2}; /* 3 twice: backward must add both rows */
    ids_arg a = {ids, 5};
    gc_case c = {.shapes = {SHAPE(7, 5)}, .ndims = {2}, .n = 1};
    case_init(&c, 100);
    TU_GRADCHECK(f_embedding, &a, c.in, 1, NULL);

    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *table = leaf(ctx, c.bufs[0], c.shapes[0], 2, false);
    pd_tensor *y = pd_embedding(ctx, table, ids, 5);
    assert_non_null(y);
    ids[0] = 1; /* the op keeps its own copy */
    for (int i = 0; i < 5; i++)
        assert_memory_equal(y->data + i * 5, c.bufs[0] + (i ? ids[i] : 3) * 5, 5 * sizeof(float));

    int bad[2] = {1, 7};
    assert_null(pd_embedding(ctx, table, bad, 2));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_ARG);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "id 7");
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "[0, 7)");
    pd_ctx_reset(ctx);
    int neg = -1;
    assert_null(pd_embedding(ctx, leaf(ctx, c.bufs[0], c.shapes[0], 2, false), &neg, 1));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_ARG);
    pd_ctx_free(ctx);
    case_free(&c);
}

/* ---- concat / slice / reshape / permute ------------------------------------- */

static int g_axis;
static pd_tensor *f_concat(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u;
    return pd_concat(ctx, x, n, g_axis);
}

static void test_concat(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(2, 3, 4), SHAPE(2, 1, 4), SHAPE(2, 2, 4)}, .ndims = {3, 3, 3}, .n = 3};
    case_init(&c, 200);
    g_axis = 1;
    TU_GRADCHECK(f_concat, NULL, c.in, 3, NULL);
    case_free(&c);

    gc_case d = {.shapes = {SHAPE(3, 2), SHAPE(3, 5)}, .ndims = {2, 2}, .n = 2};
    case_init(&d, 210);
    g_axis = -1;
    TU_GRADCHECK(f_concat, NULL, d.in, 2, NULL);
    g_axis = 0; /* axis 0 of (3,2) and (3,5) must fail */
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *xs[2] = {leaf(ctx, d.bufs[0], d.shapes[0], 2, false), leaf(ctx, d.bufs[1], d.shapes[1], 2, false)};
    assert_null(pd_concat(ctx, xs, 2, 0));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_SHAPE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(3, 5)");
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(3, 2)");
    pd_ctx_free(ctx);
    case_free(&d);

    /* More inputs than one tape node holds: chained internally. */
    gc_case m = {.n = 10};
    for (int i = 0; i < 10; i++) {
        m.ndims[i] = 2;
        m.shapes[i][0] = 1 + i % 3;
        m.shapes[i][1] = 2;
    }
    case_init(&m, 220);
    g_axis = 0;
    TU_GRADCHECK(f_concat, NULL, m.in, 10, NULL);
    case_free(&m);
}

typedef struct { int axis, start, len; } slice_arg;
static pd_tensor *f_slice(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n;
    const slice_arg *a = u;
    return pd_slice(ctx, x[0], a->axis, a->start, a->len);
}

static void test_slice(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(3, 5, 4)}, .ndims = {3}, .n = 1};
    case_init(&c, 300);
    slice_arg a = {1, 1, 3};
    TU_GRADCHECK(f_slice, &a, c.in, 1, NULL);
    slice_arg b = {-1, 2, 2};
    TU_GRADCHECK(f_slice, &b, c.in, 1, NULL);
    slice_arg z = {0, 0, 1};
    TU_GRADCHECK(f_slice, &z, c.in, 1, NULL);

    /* concat of the slices along the same axis gives x back */
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *x = leaf(ctx, c.bufs[0], c.shapes[0], 3, false);
    pd_tensor *parts[3] = {pd_slice(ctx, x, 1, 0, 2), pd_slice(ctx, x, 1, 2, 1), pd_slice(ctx, x, 1, 3, 2)};
    pd_tensor *back = pd_concat(ctx, parts, 3, 1);
    assert_non_null(back);
    assert_true(pd_shape_equal(back, x));
    assert_memory_equal(back->data, x->data, x->numel * sizeof(float));
    assert_null(pd_slice(ctx, x, 1, 4, 2));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_ARG);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(3, 5, 4)");
    pd_ctx_free(ctx);
    case_free(&c);
}

static pd_tensor *f_reshape(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    /* a nonlinear consumer would be no stronger here: reshape is a copy */
    return pd_reshape(ctx, x[0], (int[]){4, -1}, 2);
}

static void test_reshape(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(2, 3, 4)}, .ndims = {3}, .n = 1};
    case_init(&c, 400);
    TU_GRADCHECK(f_reshape, NULL, c.in, 1, NULL);
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *x = leaf(ctx, c.bufs[0], c.shapes[0], 3, false);
    pd_tensor *y = pd_reshape(ctx, x, (int[]){-1, 6}, 2);
    assert_non_null(y);
    assert_int_equal(y->shape[0], 4);
    assert_memory_equal(y->data, x->data, x->numel * sizeof(float));
    assert_null(pd_reshape(ctx, x, (int[]){5, -1}, 2));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_SHAPE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(2, 3, 4)");
    pd_ctx_reset(ctx);
    x = leaf(ctx, c.bufs[0], c.shapes[0], 3, false);
    assert_null(pd_reshape(ctx, x, (int[]){-1, -1}, 2));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_ARG);
    pd_ctx_free(ctx);
    case_free(&c);
}

static const int *g_perm;
static pd_tensor *f_permute(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return pd_permute(ctx, x[0], g_perm);
}

static void test_permute(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(2, 3, 4, 5)}, .ndims = {4}, .n = 1};
    case_init(&c, 500);
    const int perm[4] = {2, 0, 3, 1}, inv[4] = {1, 3, 0, 2};
    g_perm = perm;
    TU_GRADCHECK(f_permute, NULL, c.in, 1, NULL);

    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *x = leaf(ctx, c.bufs[0], c.shapes[0], 4, false);
    pd_tensor *y = pd_permute(ctx, x, perm);
    assert_non_null(y);
    int want_shape[4] = {4, 2, 5, 3};
    assert_memory_equal(y->shape, want_shape, sizeof want_shape);
    /* y[a][b][c][d] = x[b][d][a][c] */
    assert_true(y->data[((3 * 2 + 1) * 5 + 4) * 3 + 2] == x->data[((1 * 3 + 2) * 4 + 3) * 5 + 4]);
    pd_tensor *back = pd_permute(ctx, y, inv);
    assert_non_null(back);
    assert_true(pd_shape_equal(back, x));
    assert_memory_equal(back->data, x->data, x->numel * sizeof(float));
    assert_null(pd_permute(ctx, x, (int[]){0, 1, 1, 3}));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_ARG);
    pd_ctx_free(ctx);
    case_free(&c);

    /* rank 6 */
    gc_case s = {.shapes = {SHAPE(2, 1, 3, 2, 2, 3)}, .ndims = {6}, .n = 1};
    case_init(&s, 510);
    const int perm6[6] = {5, 3, 0, 4, 2, 1};
    g_perm = perm6;
    TU_GRADCHECK(f_permute, NULL, s.in, 1, NULL);
    case_free(&s);
}

/* ---- patchify / unpatchify ----------------------------------------------------- */

typedef struct { int C, H, W, p, layout; } patch_arg;

static pd_tensor *f_patchify(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n;
    const patch_arg *a = u;
    return pd_patchify(ctx, x[0], a->p, (pd_patch_layout)a->layout);
}

static pd_tensor *f_unpatchify(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n;
    const patch_arg *a = u;
    return pd_unpatchify(ctx, x[0], a->C, a->H, a->W, a->p, (pd_patch_layout)a->layout);
}

static void test_patchify(void **state) {
    (void)state;
    for (int layout = 0; layout < 2; layout++) {
        patch_arg a = {3, 6, 4, 2, layout};
        gc_case c = {.shapes = {SHAPE(2, 3, 6, 4)}, .ndims = {4}, .n = 1};
        case_init(&c, 600 + (uint64_t)layout);
        TU_GRADCHECK(f_patchify, &a, c.in, 1, NULL);
        gc_case t = {.shapes = {SHAPE(2, 6, 12)}, .ndims = {3}, .n = 1};
        case_init(&t, 610 + (uint64_t)layout);
        TU_GRADCHECK(f_unpatchify, &a, t.in, 1, NULL);

        pd_ctx *ctx = pd_ctx_new(0);
        pd_tensor *img = leaf(ctx, c.bufs[0], c.shapes[0], 4, false);
        pd_tensor *tok = pd_patchify(ctx, img, 2, (pd_patch_layout)layout);
        assert_non_null(tok);
        assert_int_equal(tok->shape[1], 6);
        assert_int_equal(tok->shape[2], 12);
        /* token n = gh*2 + gw of image b; element (c, gh*p+py, gw*p+px) */
        for (int b = 0; b < 2; b++)
            for (int ch = 0; ch < 3; ch++)
                for (int y = 0; y < 6; y++)
                    for (int x = 0; x < 4; x++) {
                        int n = (y / 2) * 2 + x / 2, py = y % 2, px = x % 2;
                        int f = layout == PD_PATCH_JIT ? (py * 2 + px) * 3 + ch : ch * 4 + py * 2 + px;
                        assert_true(tok->data[(b * 6 + n) * 12 + f] == img->data[((b * 3 + ch) * 6 + y) * 4 + x]);
                    }
        pd_tensor *back = pd_unpatchify(ctx, tok, 3, 6, 4, 2, (pd_patch_layout)layout);
        assert_non_null(back);
        assert_true(pd_shape_equal(back, img));
        assert_memory_equal(back->data, img->data, img->numel * sizeof(float));
        assert_null(pd_unpatchify(ctx, tok, 3, 5, 4, 2, (pd_patch_layout)layout));
        assert_int_equal(pd_ctx_status(ctx), PD_ERR_SHAPE);
        pd_ctx_reset(ctx);
        img = leaf(ctx, c.bufs[0], (int[]){2, 3, 4, 6}, 4, false);
        assert_null(pd_patchify(ctx, img, 4, (pd_patch_layout)layout));
        assert_int_equal(pd_ctx_status(ctx), PD_ERR_SHAPE);
        TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(2, 3, 4, 6)");
        pd_ctx_free(ctx);
        case_free(&c);
        case_free(&t);
    }

    /* hand example: img (1, 2, 2, 2), p 2, one token */
    pd_ctx *ctx = pd_ctx_new(0);
    const float v[8] = {0, 1, 2, 3, 10, 11, 12, 13}; /* c0: 0..3, c1: 10..13 */
    pd_tensor *img = leaf(ctx, v, (int[]){1, 2, 2, 2}, 4, false);
    const float jit[8] = {0, 10, 1, 11, 2, 12, 3, 13};
    assert_close(pd_patchify(ctx, img, 2, PD_PATCH_JIT)->data, jit, 8, 0, "patchify jit");
    assert_close(pd_patchify(ctx, img, 2, PD_PATCH_UNFOLD)->data, v, 8, 0, "patchify unfold");
    pd_ctx_free(ctx);
}

/* ---- conv2d ------------------------------------------------------------------- */

typedef struct { int stride, pad; } conv_arg;

static pd_tensor *f_conv2d(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    const conv_arg *a = u;
    return pd_conv2d(ctx, x[0], x[1], n > 2 ? x[2] : NULL, a->stride, a->pad);
}

/* Direct 7-loop convolution with G channel groups (w (Co, Ci/G, kh, kw)),
 * the reference for the im2col path. */
static void conv2d_naive(const float *x, const float *w, const float *b, float *y, int B, int Ci,
                         int H, int W, int Co, int kh, int kw, int s, int p, int Ho, int Wo, int G) {
    int Cg = Ci / G, Cog = Co / G;
    for (int n = 0; n < B; n++)
        for (int co = 0; co < Co; co++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double acc = b ? b[co] : 0;
                    for (int cg = 0; cg < Cg; cg++)
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++) {
                                int iy = oy * s - p + ky, ix = ox * s - p + kx;
                                int ci = co / Cog * Cg + cg;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                acc += (double)x[((n * Ci + ci) * H + iy) * W + ix] *
                                       w[((co * Cg + cg) * kh + ky) * kw + kx];
                            }
                    y[((n * Co + co) * Ho + oy) * Wo + ox] = (float)acc;
                }
}

static void conv_case(int B, int Ci, int H, int W, int Co, int kh, int kw, int s, int p, bool bias,
                      uint64_t seed) {
    gc_case c = {.shapes = {SHAPE(B, Ci, H, W), SHAPE(Co, Ci, kh, kw), SHAPE(Co)}, .ndims = {4, 4, 1},
                 .n = 3};
    case_init(&c, seed);
    conv_arg a = {s, p};
    TU_GRADCHECK(f_conv2d, &a, c.in, bias ? 3 : 2, NULL);

    int Ho = (H + 2 * p - kh) / s + 1, Wo = (W + 2 * p - kw) / s + 1;
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *y = pd_conv2d(ctx, leaf(ctx, c.bufs[0], c.shapes[0], 4, false),
                             leaf(ctx, c.bufs[1], c.shapes[1], 4, false),
                             bias ? leaf(ctx, c.bufs[2], c.shapes[2], 1, false) : NULL, s, p);
    assert_non_null(y);
    int want_shape[4] = {B, Co, Ho, Wo};
    assert_memory_equal(y->shape, want_shape, sizeof want_shape);
    float *ref = malloc(y->numel * sizeof(float));
    conv2d_naive(c.bufs[0], c.bufs[1], bias ? c.bufs[2] : NULL, ref, B, Ci, H, W, Co, kh, kw, s, p, Ho, Wo, 1);
    assert_close(y->data, ref, y->numel, 1e-5f, "conv2d vs naive");
    free(ref);
    pd_ctx_free(ctx);
    case_free(&c);
}

static void test_conv2d(void **state) {
    (void)state;
    conv_case(2, 3, 7, 5, 4, 3, 3, 2, 1, true, 700);  /* odd sizes, stride 2, pad 1 */
    conv_case(1, 2, 6, 5, 3, 3, 2, 1, 0, false, 710); /* non-square kernel, no bias */
    conv_case(2, 4, 3, 5, 3, 1, 1, 1, 0, true, 720);  /* pointwise: no im2col */
    conv_case(1, 2, 8, 8, 3, 4, 4, 4, 0, true, 730);  /* patch-embed style k = stride */
    conv_case(70, 2, 4, 4, 3, 3, 3, 1, 1, true, 740); /* many 4x4 images: several sgemm groups */
    /* chunks on the threads (>= 4 chunks of ~2048 columns): per-thread
     * columns and dw partials */
    conv_case(8, 3, 32, 32, 4, 3, 3, 1, 1, true, 750);
    conv_case(600, 2, 4, 4, 3, 3, 3, 1, 1, true, 760);
    /* images no larger than the kernel: the dense kernel (conv_dense.c) */
    conv_case(5, 3, 2, 2, 4, 3, 3, 1, 1, true, 770);    /* DiP's 3x3 on 2x2 patches */
    conv_case(3, 6, 1, 1, 4, 1, 1, 1, 0, true, 771);    /* its 1x1 bottleneck */
    conv_case(2, 3, 3, 2, 4, 3, 3, 2, 1, false, 772);   /* odd image, stride 2 */
    conv_case(600, 8, 2, 2, 5, 3, 3, 1, 1, true, 773);  /* products split on the threads */
    /* narrow images: the row-band kernel (conv_rows.c) */
    conv_case(5, 3, 4, 4, 4, 3, 3, 1, 1, true, 780);    /* DiP's 3x3 on 4x4 patches */
    conv_case(3, 2, 5, 3, 4, 3, 3, 1, 1, false, 781);   /* odd, non-square image */
    conv_case(2, 3, 4, 4, 3, 2, 3, 1, 1, true, 782);    /* 2x3 kernel: a band of one row */
    conv_case(600, 8, 4, 4, 5, 3, 3, 1, 1, true, 783);  /* products split on the threads */

    pd_ctx *ctx = pd_ctx_new(0);
    float z[128] = {0}; /* covers the largest tensor below, w (2, 4, 3, 3) */
    pd_tensor *x = leaf(ctx, z, (int[]){1, 3, 4, 4}, 4, false);
    pd_tensor *w = leaf(ctx, z, (int[]){2, 4, 3, 3}, 4, false);
    assert_null(pd_conv2d(ctx, x, w, NULL, 1, 1));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_SHAPE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(1, 3, 4, 4)");
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(2, 4, 3, 3)");
    pd_ctx_reset(ctx);
    x = leaf(ctx, z, (int[]){1, 3, 4, 4}, 4, false);
    w = leaf(ctx, z, (int[]){2, 3, 3, 3}, 4, false);
    pd_tensor *b = leaf(ctx, z, (int[]){3}, 1, false);
    assert_null(pd_conv2d(ctx, x, w, b, 1, 1));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_SHAPE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(3,)");
    pd_ctx_free(ctx);
}

/* ---- grouped / depthwise conv2d -------------------------------------------------- */

typedef struct { int stride, pad, groups; } gconv_arg;

static pd_tensor *f_conv2d_grouped(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    const gconv_arg *a = u;
    return pd_conv2d_grouped(ctx, x[0], x[1], n > 2 ? x[2] : NULL, a->stride, a->pad, a->groups);
}

static void gconv_case(int B, int Ci, int H, int W, int Co, int k, int s, int p, int G, bool bias,
                       uint64_t seed) {
    gc_case c = {.shapes = {SHAPE(B, Ci, H, W), SHAPE(Co, Ci / G, k, k), SHAPE(Co)},
                 .ndims = {4, 4, 1}, .n = 3};
    case_init(&c, seed);
    gconv_arg a = {s, p, G};
    TU_GRADCHECK(f_conv2d_grouped, &a, c.in, bias ? 3 : 2, NULL);

    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *y = pd_conv2d_grouped(ctx, leaf(ctx, c.bufs[0], c.shapes[0], 4, false),
                                     leaf(ctx, c.bufs[1], c.shapes[1], 4, false),
                                     bias ? leaf(ctx, c.bufs[2], c.shapes[2], 1, false) : NULL, s,
                                     p, G);
    assert_non_null(y);
    int want_shape[4] = {B, Co, Ho, Wo};
    assert_memory_equal(y->shape, want_shape, sizeof want_shape);
    float *ref = malloc(y->numel * sizeof(float));
    conv2d_naive(c.bufs[0], c.bufs[1], bias ? c.bufs[2] : NULL, ref, B, Ci, H, W, Co, k, k, s, p, Ho,
                 Wo, G);
    assert_close(y->data, ref, y->numel, 1e-5f, "conv2d_grouped vs naive");
    free(ref);
    pd_ctx_free(ctx);
    case_free(&c);
}

static void test_conv2d_grouped(void **state) {
    (void)state;
    gconv_case(2, 4, 6, 5, 6, 3, 1, 1, 2, true, 750);   /* 2 groups of 2 -> 3 channels */
    gconv_case(2, 3, 7, 6, 3, 3, 2, 1, 3, false, 760);  /* depthwise, stride 2 */
    gconv_case(1, 2, 5, 5, 4, 3, 1, 0, 2, true, 770);   /* depthwise, multiplier 2 */
    gconv_case(1, 3, 4, 4, 2, 3, 1, 1, 1, true, 780);   /* groups 1 = conv2d */
    gconv_case(70, 4, 4, 4, 4, 3, 1, 1, 4, true, 790);  /* several image chunks */

    pd_ctx *ctx = pd_ctx_new(0);
    float z[128] = {0};
    pd_tensor *x = leaf(ctx, z, (int[]){1, 4, 4, 4}, 4, false);
    pd_tensor *w = leaf(ctx, z, (int[]){3, 2, 3, 3}, 4, false); /* Co 3 not divisible by 2 */
    assert_null(pd_conv2d_grouped(ctx, x, w, NULL, 1, 1, 2));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_SHAPE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "conv2d_grouped: x (1, 4, 4, 4) and w (3, 2, 3, 3) with 2 groups");
    pd_ctx_reset(ctx);
    x = leaf(ctx, z, (int[]){1, 4, 4, 4}, 4, false);
    w = leaf(ctx, z, (int[]){4, 1, 3, 3}, 4, false);
    assert_null(pd_conv2d_grouped(ctx, x, w, NULL, 1, 1, 0));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_ARG);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "groups 0 must be >= 1");
    pd_ctx_free(ctx);
}

/* ---- conv_transpose2x2 ------------------------------------------------------------ */

static pd_tensor *f_convt(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)u;
    return pd_conv_transpose2x2(ctx, x[0], x[1], n > 2 ? x[2] : NULL);
}

static void convt_case(int B, int Ci, int H, int W, int Co, uint64_t seed) {
    gc_case c = {.shapes = {SHAPE(B, Ci, H, W), SHAPE(Ci, Co, 2, 2), SHAPE(Co)}, .ndims = {4, 4, 1}, .n = 3};
    case_init(&c, seed);
    TU_GRADCHECK(f_convt, NULL, c.in, 3, NULL);
    TU_GRADCHECK(f_convt, NULL, c.in, 2, NULL);

    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *y = pd_conv_transpose2x2(ctx, leaf(ctx, c.bufs[0], c.shapes[0], 4, false),
                                        leaf(ctx, c.bufs[1], c.shapes[1], 4, false),
                                        leaf(ctx, c.bufs[2], c.shapes[2], 1, false));
    assert_non_null(y);
    int want_shape[4] = {B, Co, 2 * H, 2 * W};
    assert_memory_equal(y->shape, want_shape, sizeof want_shape);
    /* torch ConvTranspose2d(k 2, s 2): y[n,co,2i+ky,2j+kx] = b[co] + sum_ci x[n,ci,i,j] w[ci,co,ky,kx] */
    const float *x = c.bufs[0], *w = c.bufs[1], *b = c.bufs[2];
    for (int n = 0; n < B; n++)
        for (int co = 0; co < Co; co++)
            for (int oy = 0; oy < 2 * H; oy++)
                for (int ox = 0; ox < 2 * W; ox++) {
                    double acc = b[co];
                    for (int ci = 0; ci < Ci; ci++)
                        acc += (double)x[((n * Ci + ci) * H + oy / 2) * W + ox / 2] *
                               w[((ci * Co + co) * 2 + oy % 2) * 2 + ox % 2];
                    float got = y->data[((n * Co + co) * 2 * H + oy) * 2 * W + ox];
                    if (fabs(got - acc) > 1e-5) fail_msg("convt (%d,%d,%d,%d): %g vs %g", n, co, oy, ox, got, acc);
                }
    pd_ctx_free(ctx);
    case_free(&c);
}

static void test_conv_transpose2x2(void **state) {
    (void)state;
    convt_case(2, 3, 3, 5, 4, 800);
    convt_case(300, 2, 2, 2, 3, 810); /* many 2x2 images: several sgemm groups */
    convt_case(2500, 2, 2, 2, 3, 820); /* chunks on the threads: dw partials */
    convt_case(8, 2, 32, 32, 3, 830);
    convt_case(5, 3, 1, 1, 4, 840);    /* 1x1 images: one product, no shuffle */
    convt_case(3000, 6, 1, 1, 5, 850); /* ... split on the threads */
    pd_ctx *ctx = pd_ctx_new(0);
    static const float zeros[108];
    pd_tensor *w3 = leaf(ctx, zeros, (int[]){3, 4, 3, 3}, 4, false);
    pd_tensor *x3 = leaf(ctx, zeros, (int[]){2, 3, 3, 5}, 4, false);
    assert_null(pd_conv_transpose2x2(ctx, x3, w3, NULL));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_SHAPE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "(3, 4, 3, 3)");
    pd_ctx_free(ctx);
}

/* ---- maxpool2x2 ------------------------------------------------------------------ */

static pd_tensor *f_maxpool(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return pd_maxpool2x2(ctx, x[0]);
}

static void test_maxpool(void **state) {
    (void)state;
    int shape[4] = {2, 3, 5, 7};
    float *buf = malloc(210 * sizeof(float));
    fill_distinct(buf, 210, 0.01f, 900); /* gaps 0.01 >> 2 eps */
    pd_gradcheck_input in = {buf, shape, 4, true};
    pd_gradcheck_opts o = pd_gradcheck_defaults();
    o.max_checks = -1; /* every entry: most have zero gradient */
    TU_GRADCHECK(f_maxpool, NULL, &in, 1, &o);

    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *y = pd_maxpool2x2(ctx, leaf(ctx, buf, shape, 4, false));
    assert_non_null(y);
    int want_shape[4] = {2, 3, 2, 3};
    assert_memory_equal(y->shape, want_shape, sizeof want_shape);
    for (int pl = 0; pl < 6; pl++)
        for (int oy = 0; oy < 2; oy++)
            for (int ox = 0; ox < 3; ox++) {
                const float *p = buf + pl * 35 + 2 * oy * 7 + 2 * ox;
                float m = fmaxf(fmaxf(p[0], p[1]), fmaxf(p[7], p[8]));
                assert_true(y->data[(pl * 2 + oy) * 3 + ox] == m);
            }
    pd_ctx_reset(ctx);

    /* ties: the gradient goes to the first maximum in row-major order */
    const float tie[16] = {1, 1, 0, 2, 1, 1, 2, 2, 0, 3, 5, 5, 3, 3, 5, 4};
    pd_tensor *x = leaf(ctx, tie, (int[]){1, 1, 4, 4}, 4, true);
    assert_int_equal(pd_backward(ctx, pd_sum(ctx, pd_maxpool2x2(ctx, x))), PD_OK);
    const float want[16] = {1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0};
    assert_close(x->grad, want, 16, 0, "maxpool tie grad");
    pd_ctx_reset(ctx);

    /* NaN wins, as in torch, and the gradient goes to the first NaN. Six
     * windows (row-major): NaN 4th, NaN 2nd, NaN 1st and 4th, none, NaN 3rd,
     * a tie of the 2nd and 3rd */
    const float nn[24] = {1, 2, 0, NAN, NAN, 9, 3, NAN, 1, 0, 8, NAN,
                          1, 1, 4, 2,   1,   5, 1, 7,   NAN, 9, 5, 2};
    x = leaf(ctx, nn, (int[]){1, 1, 4, 6}, 4, true);
    pd_tensor *yn = pd_maxpool2x2(ctx, x);
    assert_non_null(yn);
    assert_true(isnan(yn->data[0]) && isnan(yn->data[1]) && isnan(yn->data[2]) && yn->data[3] == 7 &&
                isnan(yn->data[4]) && yn->data[5] == 5);
    assert_int_equal(pd_backward(ctx, pd_sum(ctx, yn)), PD_OK); /* d sum / dy = 1, NaN or not */
    float wantn[24] = {0};
    wantn[7] = wantn[3] = wantn[4] = wantn[19] = wantn[20] = wantn[17] = 1;
    assert_close(x->grad, wantn, 24, 0, "maxpool NaN grad");
    pd_ctx_reset(ctx);
    assert_null(pd_maxpool2x2(ctx, leaf(ctx, tie, (int[]){1, 1, 1, 16}, 4, false)));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_SHAPE);
    pd_ctx_free(ctx);
    free(buf);
}

/* ---- bilinear upsample ------------------------------------------------------------ */

typedef struct { int h, w; bool ac; } up_arg;
static pd_tensor *f_upsample(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n;
    const up_arg *a = u;
    return pd_upsample_bilinear(ctx, x[0], a->h, a->w, a->ac);
}

static void test_upsample(void **state) {
    (void)state;
    const up_arg cases[] = {{5, 7, false}, {5, 7, true}, {3, 7, false}, {3, 7, true},
                            {8, 10, false}, {1, 3, true}, {1, 3, false}, {4, 5, true}};
    gc_case c = {.shapes = {SHAPE(2, 2, 4, 5)}, .ndims = {4}, .n = 1};
    case_init(&c, 1000);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) TU_GRADCHECK(f_upsample, (void *)&cases[i], c.in, 1, NULL);
    case_free(&c);

    /* goldens: torch 1.13 F.interpolate(x, size, mode='bilinear') of
     * x = k*k*0.1 - k, k = 0..11, shape (1, 1, 3, 4) */
    float x[12];
    for (int k = 0; k < 12; k++) x[k] = (float)k * (float)k * 0.1f - (float)k;
    static const float up_false[35] = {
        0.0f, -0.321429f, -0.835714f, -1.25f, -1.635714f, -1.921429f, -2.1f,
        -0.96f, -1.167143f, -1.498572f, -1.73f, -1.932857f, -2.035714f, -2.1f,
        -2.4f, -2.435714f, -2.492857f, -2.45f, -2.378571f, -2.207142f, -2.1f,
        -1.92f, -1.784285f, -1.567143f, -1.25f, -0.904285f, -0.458571f, -0.18f,
        -1.6f, -1.35f, -0.95f, -0.45f, 0.078572f, 0.707143f, 1.1f};
    static const float up_true[35] = {
        0.0f, -0.45f, -0.9f, -1.25f, -1.6f, -1.85f, -2.1f,
        -1.2f, -1.45f, -1.7f, -1.85f, -2.0f, -2.05f, -2.1f,
        -2.4f, -2.45f, -2.5f, -2.45f, -2.4f, -2.25f, -2.1f,
        -2.0f, -1.85f, -1.7f, -1.45f, -1.2f, -0.85f, -0.5f,
        -1.6f, -1.25f, -0.9f, -0.45f, 0.0f, 0.55f, 1.1f};
    static const float down_false[6] = {-0.716667f, -1.55f, -2.05f, -1.716667f, -0.95f, 0.15f};
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *t = leaf(ctx, x, (int[]){1, 1, 3, 4}, 4, false);
    assert_close(pd_upsample_bilinear(ctx, t, 5, 7, false)->data, up_false, 35, 2e-6f, "up ac=0");
    assert_close(pd_upsample_bilinear(ctx, t, 5, 7, true)->data, up_true, 35, 2e-6f, "up ac=1");
    assert_close(pd_upsample_bilinear(ctx, t, 2, 3, false)->data, down_false, 6, 2e-6f, "down ac=0");
    assert_close(pd_upsample_bilinear(ctx, t, 3, 4, false)->data, x, 12, 0, "same size");
    assert_null(pd_upsample_bilinear(ctx, t, 0, 4, false));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_ARG);
    pd_ctx_free(ctx);
}

/* ---- nearest upsample ---------------------------------------------------------- */

typedef struct { int fh, fw; } near_arg;
static pd_tensor *f_nearest(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n;
    const near_arg *a = u;
    return pd_upsample_nearest(ctx, x[0], a->fh, a->fw);
}

static void test_upsample_nearest(void **state) {
    (void)state;
    gc_case c = {.shapes = {SHAPE(2, 3, 3, 4)}, .ndims = {4}, .n = 1};
    case_init(&c, 1050);
    const near_arg cases[] = {{2, 3}, {1, 1}, {3, 1}};
    for (size_t i = 0; i < 3; i++) TU_GRADCHECK(f_nearest, (void *)&cases[i], c.in, 1, NULL);

    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *y = pd_upsample_nearest(ctx, leaf(ctx, c.bufs[0], c.shapes[0], 4, false), 2, 3);
    assert_non_null(y);
    int want_shape[4] = {2, 3, 6, 12};
    assert_memory_equal(y->shape, want_shape, sizeof want_shape);
    for (int pl = 0; pl < 6; pl++)
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 12; j++)
                assert_true(y->data[(pl * 6 + i) * 12 + j] == c.bufs[0][(pl * 3 + i / 2) * 4 + j / 3]);
    assert_null(pd_upsample_nearest(ctx, y, 0, 2));
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_ARG);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "upsample_nearest: factors 0 x 2");
    pd_ctx_free(ctx);
    case_free(&c);
}

/* ---- pixel shuffle / unshuffle ------------------------------------------------------ */

static pd_tensor *f_shuffle(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n;
    return pd_pixel_shuffle(ctx, x[0], *(const int *)u);
}
static pd_tensor *f_unshuffle(pd_ctx *ctx, pd_tensor *const *x, int n, void *u) {
    (void)n;
    return pd_pixel_unshuffle(ctx, x[0], *(const int *)u);
}

static void test_pixel_shuffle(void **state) {
    (void)state;
    int r2 = 2, r3 = 3;
    gc_case deep = {.shapes = {SHAPE(2, 18, 2, 3)}, .ndims = {4}, .n = 1};
    gc_case wide = {.shapes = {SHAPE(2, 3, 6, 12)}, .ndims = {4}, .n = 1};
    case_init(&deep, 1060);
    case_init(&wide, 1070);
    TU_GRADCHECK(f_shuffle, &r3, deep.in, 1, NULL);
    TU_GRADCHECK(f_unshuffle, &r2, wide.in, 1, NULL);
    TU_GRADCHECK(f_unshuffle, &r3, wide.in, 1, NULL);

    /* the torch index rule, and unshuffle undoing shuffle exactly */
    pd_ctx *ctx = pd_ctx_new(0);
    pd_tensor *x = leaf(ctx, deep.bufs[0], deep.shapes[0], 4, false);
    pd_tensor *y = pd_pixel_shuffle(ctx, x, 3); /* (2, 2, 6, 9) */
    assert_non_null(y);
    int want_shape[4] = {2, 2, 6, 9};
    assert_memory_equal(y->shape, want_shape, sizeof want_shape);
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 2; c++)
            for (int h = 0; h < 6; h++)
                for (int w = 0; w < 9; w++) {
                    int src = (((b * 18 + (c * 3 + h % 3) * 3 + w % 3) * 2 + h / 3) * 3) + w / 3;
                    assert_true(y->data[((b * 2 + c) * 6 + h) * 9 + w] == deep.bufs[0][src]);
                }
    pd_tensor *back = pd_pixel_unshuffle(ctx, y, 3);
    assert_non_null(back);
    assert_memory_equal(back->shape, x->shape, sizeof x->shape);
    assert_memory_equal(back->data, x->data, x->numel * sizeof(float));
    assert_null(pd_pixel_shuffle(ctx, x, 4)); /* 18 channels: not a multiple of 16 */
    assert_int_equal(pd_ctx_status(ctx), PD_ERR_SHAPE);
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "pixel_shuffle: x (2, 18, 2, 3) with factor 4");
    pd_ctx_reset(ctx);
    assert_null(pd_pixel_unshuffle(ctx, leaf(ctx, wide.bufs[0], wide.shapes[0], 4, false), 4));
    TU_ASSERT_CONTAINS(pd_ctx_error(ctx), "pixel_unshuffle: x (2, 3, 6, 12) with factor 4");
    pd_ctx_free(ctx);
    case_free(&deep);
    case_free(&wide);
}

/* ---- sizes above PD_PAR_MIN: the OpenMP paths ------------------------------------- */

static void test_large_parallel(void **state) {
    (void)state;
    pd_gradcheck_opts o = pd_gradcheck_defaults();
    o.max_checks = 12;
    const int perm[4] = {3, 1, 0, 2};
    g_perm = perm;
    gc_case pc = {.shapes = {SHAPE(4, 33, 17, 16)}, .ndims = {4}, .n = 1};
    case_init(&pc, 1100);
    TU_GRADCHECK(f_permute, NULL, pc.in, 1, &o);
    case_free(&pc);

    patch_arg pa = {3, 64, 48, 8, PD_PATCH_JIT};
    gc_case img = {.shapes = {SHAPE(2, 3, 64, 48)}, .ndims = {4}, .n = 1};
    case_init(&img, 1110);
    TU_GRADCHECK(f_patchify, &pa, img.in, 1, &o);
    pa.layout = PD_PATCH_UNFOLD;
    TU_GRADCHECK(f_patchify, &pa, img.in, 1, &o);
    up_arg ua = {70, 50, false};
    TU_GRADCHECK(f_upsample, &ua, img.in, 1, &o);
    ua.ac = true;
    TU_GRADCHECK(f_upsample, &ua, img.in, 1, &o);
    fill_distinct(img.bufs[0], pd_shape_numel(img.shapes[0], 4), 0.01f, 1120);
    TU_GRADCHECK(f_maxpool, NULL, img.in, 1, &o);
    near_arg na = {2, 3};
    TU_GRADCHECK(f_nearest, &na, img.in, 1, &o);
    int r = 4;
    TU_GRADCHECK(f_unshuffle, &r, img.in, 1, &o);
    case_free(&img);
    gc_case deep = {.shapes = {SHAPE(2, 32, 33, 32)}, .ndims = {4}, .n = 1};
    case_init(&deep, 1125);
    TU_GRADCHECK(f_shuffle, &r, deep.in, 1, &o);
    case_free(&deep);

    gc_case cv = {.shapes = {SHAPE(2, 8, 32, 31), SHAPE(5, 8, 3, 3), SHAPE(5)}, .ndims = {4, 4, 1}, .n = 3};
    case_init(&cv, 1130);
    conv_arg ca = {1, 1};
    TU_GRADCHECK(f_conv2d, &ca, cv.in, 3, &o);
    case_free(&cv);
    gc_case dw = {.shapes = {SHAPE(2, 8, 32, 31), SHAPE(8, 1, 3, 3), SHAPE(8)}, .ndims = {4, 4, 1}, .n = 3};
    case_init(&dw, 1135);
    gconv_arg ga = {1, 1, 8};
    TU_GRADCHECK(f_conv2d_grouped, &ga, dw.in, 3, &o);
    case_free(&dw);

    gc_case ct = {.shapes = {SHAPE(2, 6, 33, 32), SHAPE(6, 5, 2, 2), SHAPE(5)}, .ndims = {4, 4, 1}, .n = 3};
    case_init(&ct, 1140);
    TU_GRADCHECK(f_convt, NULL, ct.in, 3, &o);
    case_free(&ct);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding),  cmocka_unit_test(test_concat),
        cmocka_unit_test(test_slice),      cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_permute),    cmocka_unit_test(test_patchify),
        cmocka_unit_test(test_conv2d),     cmocka_unit_test(test_conv_transpose2x2),
        cmocka_unit_test(test_maxpool),    cmocka_unit_test(test_upsample),
        cmocka_unit_test(test_conv2d_grouped), cmocka_unit_test(test_upsample_nearest),
        cmocka_unit_test(test_pixel_shuffle),
        cmocka_unit_test(test_large_parallel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
