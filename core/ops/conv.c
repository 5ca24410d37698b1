/* 2-D convolution, plain and grouped (im2col + GEMM), and the 2x2
 * stride-2 transposed convolution (GEMM plus a scatter), NCHW. Every
 * product goes through the GEMM seam (gemm.h) at the context's precision.
 *
 * Images are processed in chunks whose columns sit side by side in one
 * matrix, so each chunk is one large sgemm: a per-image sgemm is far too
 * small for the many tiny images of a per-patch head (DiP: B*N patches of
 * 4x4). Column scratch comes from the context's reusable scratch buffer
 * (pd_ctx_scratch): it is needed only within one call and must not pile
 * up in the step arena. Images no larger than the kernel go to the dense
 * kernel (conv_dense.c), images a few pixels wide to the row-band kernel
 * (conv_rows.c), where each does fewer or about as many multiply-adds and
 * writes no columns. */
#include <stdlib.h>

#include "conv_internal.h"
#include "gemm.h"


/* Images per chunk: enough columns for an efficient sgemm, at most ~32 MiB
 * of column scratch of `rows` floats per column. The products have few
 * rows (output channels, 16-128 in the per-patch heads), so OpenBLAS
 * needs wide ones to keep two threads busy: small-unet trained at 1.22 s
 * per step with 1024 columns, 1.17 with 4096, 1.05 with 8192 and 1.09
 * with 16384 (bench, 5 steps, quiet, Haswell kernel, 2026-12-07). */
#define CHUNK_COLUMNS 8192
static int chunk_size(int B, size_t L, size_t rows) {
    size_t g = (CHUNK_COLUMNS + L - 1) / L;
    size_t cap = ((size_t)32 << 20) / (sizeof(float) * rows * L);
    if (g > cap) g = cap;
    if (g < 1) g = 1;
    return g > (size_t)B ? B : (int)g;
}

/* Row k of the column matrix for one image whose channels start at img:
 * cols row (ci*kh + ky)*kw + kx, Ho*Wo entries starting at dst; taps in the
 * padding read 0. */
static void im2col_row(const conv_attr *a, const float *img, int k, float *dst) {
    int kx = k % a->kw, ky = (k / a->kw) % a->kh, ci = k / (a->kw * a->kh);
    const float *plane = img + (size_t)ci * a->H * a->W;
    for (int oy = 0; oy < a->Ho; oy++, dst += a->Wo) {
        int iy = oy * a->stride - a->pad + ky;
        if (iy < 0 || iy >= a->H) {
            memset(dst, 0, (size_t)a->Wo * sizeof(float));
            continue;
        }
        const float *src = plane + (size_t)iy * a->W;
        for (int ox = 0; ox < a->Wo; ox++) {
            int ix = ox * a->stride - a->pad + kx;
            dst[ox] = (ix >= 0 && ix < a->W) ? src[ix] : 0.0f;
        }
    }
}

/* Small outputs (the per-patch heads' 4x4, 2x2 and 1x1 maps) make the row
 * loops above a few floats long, so their index arithmetic dominates. For
 * those, one table maps every (tap, output position) to its input offset
 * in the plane (-1 in the padding), built once per call; im2col becomes a
 * gather and col2im a scatter-add in the same (tap, oy, ox) order as the
 * row loops, so results are bit-for-bit the same. */
#define TAP_TABLE_MAX 4096 /* taps * Ho*Wo entries, 16 KiB on the stack */

static bool use_tap_table(const conv_attr *a) {
    return (size_t)a->kh * a->kw * a->Ho * a->Wo <= TAP_TABLE_MAX && a->Wo < 16;
}

/* idx (taps, Ho*Wo): input offset of tap t at output o, or -1. */
static void tap_table(const conv_attr *a, int *idx) {
    for (int t = 0; t < a->kh * a->kw; t++) {
        int ky = t / a->kw, kx = t % a->kw;
        for (int oy = 0; oy < a->Ho; oy++)
            for (int ox = 0; ox < a->Wo; ox++) {
                int iy = oy * a->stride - a->pad + ky, ix = ox * a->stride - a->pad + kx;
                bool in = iy >= 0 && iy < a->H && ix >= 0 && ix < a->W;
                *idx++ = in ? iy * a->W + ix : -1;
            }
    }
}

/* cols (K, g*L) for the Cg input channels c0.. of images x[n0 .. n0+g),
 * K = Cg*kh*kw, image gi in columns gi*L.. */
static void im2col_chunk(const conv_attr *a, const float *x, int n0, int g, int c0, int Cg,
                         float *cols) {
    int taps = a->kh * a->kw, K = Cg * taps;
    size_t L = (size_t)a->Ho * a->Wo, ld = (size_t)g * L, img = (size_t)a->Ci * a->H * a->W;
    const float *x0 = x + (size_t)c0 * a->H * a->W;
    if (!use_tap_table(a)) {
#pragma omp parallel for collapse(2) if ((size_t)K * ld > PD_PAR_MIN)
        for (int gi = 0; gi < g; gi++)
            for (int k = 0; k < K; k++)
                im2col_row(a, x0 + (size_t)(n0 + gi) * img, k,
                           cols + (size_t)k * ld + (size_t)gi * L);
        return;
    }
    int idx[TAP_TABLE_MAX];
    tap_table(a, idx);
#pragma omp parallel for collapse(2) if ((size_t)K * ld > PD_PAR_MIN)
    for (int gi = 0; gi < g; gi++)
        for (int ci = 0; ci < Cg; ci++) {
            const float *plane = x0 + (size_t)(n0 + gi) * img + (size_t)ci * a->H * a->W;
            for (int t = 0; t < taps; t++) {
                float *dst = cols + ((size_t)ci * taps + t) * ld + (size_t)gi * L;
                const int *it = idx + (size_t)t * L;
                for (size_t o = 0; o < L; o++) dst[o] = it[o] >= 0 ? plane[it[o]] : 0.0f;
            }
        }
}

/* Adjoint of im2col_chunk: dx[n0 .. n0+g) channels c0 .. c0+Cg += scatter
 * of cols. Threads own (image, input channel) planes, so overlapping
 * windows never race. */
static void col2im_chunk(const conv_attr *a, const float *cols, int n0, int g, int c0, int Cg,
                         float *dx) {
    size_t L = (size_t)a->Ho * a->Wo, ld = (size_t)g * L, img = (size_t)a->Ci * a->H * a->W;
    int taps = a->kh * a->kw;
    bool table = use_tap_table(a);
    int idx[TAP_TABLE_MAX];
    if (table) tap_table(a, idx);
#pragma omp parallel for collapse(2) if ((size_t)Cg * taps * ld > PD_PAR_MIN)
    for (int gi = 0; gi < g; gi++)
        for (int ci = 0; ci < Cg; ci++) {
            float *plane = dx + (size_t)(n0 + gi) * img + (size_t)(c0 + ci) * a->H * a->W;
            for (int t = 0; t < taps; t++) {
                int ky = t / a->kw, kx = t % a->kw;
                const float *row = cols + ((size_t)ci * taps + t) * ld + (size_t)gi * L;
                if (table) {
                    const int *it = idx + (size_t)t * L;
                    for (size_t o = 0; o < L; o++)
                        if (it[o] >= 0) plane[it[o]] += row[o];
                    continue;
                }
                for (int oy = 0; oy < a->Ho; oy++) {
                    int iy = oy * a->stride - a->pad + ky;
                    if (iy < 0 || iy >= a->H) continue;
                    float *dst = plane + (size_t)iy * a->W;
                    const float *src = row + (size_t)oy * a->Wo;
                    for (int ox = 0; ox < a->Wo; ox++) {
                        int ix = ox * a->stride - a->pad + kx;
                        if (ix >= 0 && ix < a->W) dst[ix] += src[ox];
                    }
                }
            }
        }
}

/* Moves between the chunk matrix m (C, g*L) and channels c0 .. c0+C of
 * images t[n0 .. n0+g) of (Ct, L): to_images writes t = m (+ bias[c]),
 * else gathers m = t. */
static void chunk_shuffle(float *m, float *t, int n0, int g, int c0, int C, int Ct, size_t L,
                          const float *bias, bool to_images) {
    size_t ld = (size_t)g * L;
#pragma omp parallel for collapse(2) if ((size_t)C * ld > PD_PAR_MIN)
    for (int gi = 0; gi < g; gi++)
        for (int c = 0; c < C; c++) {
            float *mp = m + (size_t)c * ld + (size_t)gi * L;
            float *tp = t + ((size_t)(n0 + gi) * Ct + c0 + c) * L;
            if (to_images) {
                float bc = bias ? bias[c] : 0.0f;
                for (size_t i = 0; i < L; i++) tp[i] = mp[i] + bc;
            } else {
                memcpy(mp, tp, L * sizeof(float));
            }
        }
}

/* threads own channels */
void pd_conv_bias_grad_add(float *db, const float *dy, int B, int C, size_t L) {
#pragma omp parallel for if ((size_t)B * C * L > PD_PAR_MIN)
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int b = 0; b < B; b++) {
            const float *p = dy + ((size_t)b * C + c) * L;
            for (size_t i = 0; i < L; i++) s += p[i];
        }
        db[c] += (float)s;
    }
}

/* Two scratch matrices of n1 and n2 floats from the context's reusable
 * buffer; false (error recorded) when it cannot grow. */
static bool conv_scratch(pd_ctx *ctx, size_t n1, size_t n2, float **a, float **b) {
    size_t n1a = (n1 + 15) & ~(size_t)15; /* keep the second 64-byte aligned */
    float *p = pd_ctx_scratch(ctx, (n1a + n2) * sizeof(float));
    if (!p) return false;
    *a = p;
    *b = p + n1a;
    return true;
}

/* ---- conv2d ---------------------------------------------------------------
 * x (B, Ci, H, W), w (Co, Cg, kh, kw), b (Co) -> y (B, Co, Ho, Wo), with
 * groups G: Cg = Ci / G input channels and Cog = Co / G output channels
 * per group, group j mapping input channels j*Cg.. to outputs j*Cog...
 * Per chunk and group: Y_j (Cog, g*L) = w_j (Cog, K) @ cols_j (K, g*L),
 * K = Cg*kh*kw. G = 1 is the plain convolution (one sgemm per chunk). */

/* Chunks run on the threads, each with its own column matrix and its own
 * single-threaded sgemm (OpenBLAS's OpenMP build runs serially inside a
 * region), when the BLAS allows it and there are chunks enough: a chunk's
 * im2col, product and shuffle then stay in that core's cache instead of
 * passing a matrix of K x 8192 columns through memory three times, and no
 * barrier separates them. small-unet: 0.99 s per training step against
 * 1.14 with one 8192-column chunk at a time (bench, 4 alternating rounds,
 * quiet, Haswell kernel, 2026-12-07). */
static int chunk_threads(int n_chunks) {
#ifdef _OPENMP
    if (omp_in_parallel() || !pd_blas_serial_in_parallel()) return 1;
    int nt = omp_get_max_threads();
    return nt < n_chunks ? nt : n_chunks;
#else
    (void)n_chunks;
    return 1;
#endif
}

/* Images per chunk when the chunks run on the threads: about 2048 columns,
 * at most 8 MiB of column scratch per thread. */
static int thread_chunk_size(int B, size_t L, size_t rows) {
    size_t g = (2048 + L - 1) / L;
    size_t cap = ((size_t)8 << 20) / (sizeof(float) * rows * L);
    if (g > cap) g = cap;
    if (g < 1) g = 1;
    return g > (size_t)B ? B : (int)g;
}

/* The chunking of one conv2d call: G images per chunk, nt threads (1: the
 * chunks run one after another, each product on all threads). */
typedef struct {
    int G, n_chunks, nt;
} conv_plan;

static conv_plan plan_conv(const conv_attr *a, size_t L, int K, int Cog) {
    conv_plan p = {.G = thread_chunk_size(a->B, L, (size_t)K + Cog)};
    p.n_chunks = (a->B + p.G - 1) / p.G;
    p.nt = p.n_chunks >= 4 ? chunk_threads(p.n_chunks) : 1;
    if (p.nt == 1) {
        p.G = chunk_size(a->B, L, (size_t)K + Cog);
        p.n_chunks = (a->B + p.G - 1) / p.G;
    }
    return p;
}

static int thread_index(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* n floats rounded up to 16 (64-byte alignment of the next part). */
static size_t pad16(size_t n) { return (n + 15) & ~(size_t)15; }

/* dw (nw) += the per-thread partials at scratch + t * per + off, in thread
 * order (the chunked backward passes' weight gradients). */
static void add_thread_partials(float *dw, const float *scratch, size_t per, size_t off, int nt,
                                size_t nw) {
#pragma omp parallel for if (nw > PD_PAR_MIN)
    for (size_t i = 0; i < nw; i++) {
        float s = dw[i];
        for (int t = 0; t < nt; t++) s += scratch[per * t + off + i];
        dw[i] = s;
    }
}

static pd_status conv2d_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    const conv_attr *a = attr;
    const pd_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    if (pd_conv_dense_fits(a))
        return pd_conv_dense_fwd(ctx, a, x->data, w->data, b ? b->data : NULL, y->data);
    if (pd_conv_rows_fits(a))
        return pd_conv_rows_fwd(ctx, a, x->data, w->data, b ? b->data : NULL, y->data);
    int Cg = a->Ci / a->groups, Cog = a->Co / a->groups, K = Cg * a->kh * a->kw;
    size_t L = (size_t)a->Ho * a->Wo;
    conv_plan pl = plan_conv(a, L, K, Cog);
    size_t ncols = (size_t)K * pl.G * L, nym = (size_t)Cog * pl.G * L;
    size_t per = pad16(ncols) + pad16(nym);
    float *scratch, *unused;
    if (!conv_scratch(ctx, per * pl.nt, 0, &scratch, &unused)) return PD_ERR_NOMEM;
    pd_precision prec = pd_ctx_precision(ctx);
    pd_status status = PD_OK;
#pragma omp parallel for num_threads(pl.nt) schedule(static) if (pl.nt > 1)
    for (int c = 0; c < pl.n_chunks; c++) {
        float *cols = scratch + per * (size_t)thread_index();
        float *ym = cols + pad16(ncols);
        int n0 = c * pl.G, g = a->B - n0 < pl.G ? a->B - n0 : pl.G, gl = g * (int)L;
        for (int j = 0; j < a->groups; j++) {
            im2col_chunk(a, x->data, n0, g, j * Cg, Cg, cols);
            pd_status st = pd_gemm(prec, false, false, Cog, gl, K, 1.0f,
                                   w->data + (size_t)j * Cog * K, K, cols, gl, 0.0f, ym, gl);
            if (st) {
#pragma omp atomic write
                status = st;
                break;
            }
            chunk_shuffle(ym, y->data, n0, g, j * Cog, Cog, a->Co, L,
                          b ? b->data + (size_t)j * Cog : NULL, true);
        }
    }
    return status;
}

/* Per chunk and group: dY_j (Cog, g*L) gathered from dy; dw_j (Cog, K) +=
 * dY_j @ cols_j^T; dcols_j (K, g*L) = w_j^T @ dY_j, then col2im into dx;
 * db += sums of dy. The columns are rebuilt rather than kept. With chunks
 * on the threads, each thread adds its dw into its own (Co, K) partial
 * (chunks of distinct images write distinct parts of dx), and the partials
 * are added to w's gradient in thread order. */
static pd_status conv2d_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    const conv_attr *a = attr;
    pd_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    int Cg = a->Ci / a->groups, Cog = a->Co / a->groups, K = Cg * a->kh * a->kw;
    size_t L = (size_t)a->Ho * a->Wo;
    if ((x->grad || w->grad) && pd_conv_dense_fits(a)) {
        pd_status st = pd_conv_dense_bwd(ctx, a, x->data, w->data, y->grad, x->grad, w->grad);
        if (st) return st;
    } else if ((x->grad || w->grad) && pd_conv_rows_fits(a)) {
        pd_status st = pd_conv_rows_bwd(ctx, a, x->data, w->data, y->grad, x->grad, w->grad);
        if (st) return st;
    } else if (x->grad || w->grad) {
        conv_plan pl = plan_conv(a, L, K, Cog);
        size_t ncols = (size_t)K * pl.G * L, nym = (size_t)Cog * pl.G * L, nw = (size_t)a->Co * K;
        bool partials = w->grad && pl.nt > 1;
        size_t per = pad16(ncols) + pad16(nym) +
                     (partials ? pad16(nw) : 0);
        float *scratch, *unused;
        if (!conv_scratch(ctx, per * pl.nt, 0, &scratch, &unused)) return PD_ERR_NOMEM;
        if (partials)
            for (int t = 0; t < pl.nt; t++)
                memset(scratch + per * t + per - pad16(nw), 0, nw * sizeof(float));
        pd_precision prec = pd_ctx_precision(ctx);
        pd_status status = PD_OK;
#pragma omp parallel for num_threads(pl.nt) schedule(static) if (pl.nt > 1)
        for (int c = 0; c < pl.n_chunks; c++) {
            float *cols = scratch + per * (size_t)thread_index();
            float *dym = cols + pad16(ncols);
            float *dw = partials ? dym + pad16(nym) : w->grad;
            int n0 = c * pl.G, g = a->B - n0 < pl.G ? a->B - n0 : pl.G, gl = g * (int)L;
            for (int j = 0; j < a->groups; j++) {
                pd_status st = PD_OK;
                chunk_shuffle(dym, y->grad, n0, g, j * Cog, Cog, a->Co, L, NULL, false);
                if (w->grad) {
                    im2col_chunk(a, x->data, n0, g, j * Cg, Cg, cols);
                    st = pd_gemm(prec, false, true, Cog, K, gl, 1.0f, dym, gl, cols, gl, 1.0f,
                                 dw + (size_t)j * Cog * K, K);
                }
                if (x->grad && !st) {
                    st = pd_gemm(prec, true, false, K, gl, Cog, 1.0f, w->data + (size_t)j * Cog * K,
                                 K, dym, gl, 0.0f, cols, gl);
                    if (!st) col2im_chunk(a, cols, n0, g, j * Cg, Cg, x->grad);
                }
                if (st) {
#pragma omp atomic write
                    status = st;
                    break;
                }
            }
        }
        if (status) return status;
        if (partials) add_thread_partials(w->grad, scratch, per, per - pad16(nw), pl.nt, nw);
    }
    if (b && b->grad) pd_conv_bias_grad_add(b->grad, y->grad, a->B, a->Co, L);
    return PD_OK;
}

static const pd_op_def conv2d_op = {"conv2d", conv2d_fwd, conv2d_bwd};

/* Shared by pd_conv2d (groups 1) and pd_conv2d_grouped; `op` names the
 * caller in errors. */
static pd_tensor *conv2d(pd_ctx *ctx, const char *op, pd_tensor *x, pd_tensor *w, pd_tensor *b,
                         int stride, int pad, int groups) {
    PD_OP_GUARD(ctx, x, w);
    if (groups < 1) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "%s: groups %d must be >= 1 (x %s, w %s)", op, groups, SHP(x),
                    SHP(w));
        return NULL;
    }
    if (x->ndim != 4 || w->ndim != 4 || (long long)w->shape[1] * groups != x->shape[1] ||
        w->shape[0] % groups) {
        if (groups == 1)
            pd_ctx_fail(ctx, PD_ERR_SHAPE,
                        "%s: x %s and w %s: expected x (B, Ci, H, W) and w (Co, Ci, kh, kw)", op,
                        SHP(x), SHP(w));
        else
            pd_ctx_fail(ctx, PD_ERR_SHAPE,
                        "%s: x %s and w %s with %d groups: expected x (B, Ci, H, W) and w (Co, "
                        "Ci/%d, kh, kw), Ci and Co divisible by %d", op, SHP(x), SHP(w), groups,
                        groups, groups);
        return NULL;
    }
    if (stride < 1 || pad < 0) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "%s: stride %d must be >= 1 and pad %d >= 0 (x %s, w %s)", op,
                    stride, pad, SHP(x), SHP(w));
        return NULL;
    }
    conv_attr a = {.B = x->shape[0], .Ci = x->shape[1], .H = x->shape[2], .W = x->shape[3],
                   .Co = w->shape[0], .kh = w->shape[2], .kw = w->shape[3], .stride = stride,
                   .pad = pad, .groups = groups};
    if (a.H + 2 * pad < a.kh || a.W + 2 * pad < a.kw) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "%s: kernel of w %s is larger than x %s padded by %d", op,
                    SHP(w), SHP(x), pad);
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != a.Co)) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "%s: b %s does not match w %s: expected (%d,)", op, SHP(b),
                    SHP(w), a.Co);
        return NULL;
    }
    a.Ho = (a.H + 2 * pad - a.kh) / stride + 1;
    a.Wo = (a.W + 2 * pad - a.kw) / stride + 1;
    int shape[4] = {a.B, a.Co, a.Ho, a.Wo};
    pd_tensor *ins[3] = {x, w, b};
    return pd_op_apply(ctx, &conv2d_op, ins, b ? 3 : 2, shape, 4, &a, sizeof a);
}

pd_tensor *pd_conv2d(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b, int stride, int pad) {
    return conv2d(ctx, "conv2d", x, w, b, stride, pad, 1);
}

pd_tensor *pd_conv2d_grouped(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b, int stride,
                             int pad, int groups) {
    return conv2d(ctx, "conv2d_grouped", x, w, b, stride, pad, groups);
}

/* ---- conv_transpose2x2 ------------------------------------------------------- */
/* x (B, Ci, H, W), w (Ci, Co, 2, 2) = (Ci, Co*4), b (Co) -> y (B, Co, 2H, 2W).
 * Per chunk t (Co*4, g*HW) = w^T @ X (Ci, g*HW); row (co*4 + ky*2 + kx) of t
 * holds the (ky, kx) corner of every output 2x2 block. Blocks never
 * overlap, so forward scatters t into y and backward gathers dy back. */

typedef struct { int B, Ci, H, W, Co; } convt_attr;

/* Moves between t (Co*4, g*HW) and y[n0 .. n0+g) (Co, 2H, 2W); gather: y -> t. */
static void convt_shuffle(const convt_attr *a, float *t, float *y, int n0, int g, const float *bias,
                          bool gather) {
    size_t HW = (size_t)a->H * a->W, ld = (size_t)g * HW, W2 = 2 * (size_t)a->W;
    size_t img = (size_t)a->Co * 4 * HW;
#pragma omp parallel for collapse(2) if ((size_t)a->Co * 4 * ld > PD_PAR_MIN)
    for (int gi = 0; gi < g; gi++)
        for (int co = 0; co < a->Co; co++) {
            float bc = bias ? bias[co] : 0.0f;
            float *yb = y + (size_t)(n0 + gi) * img;
            for (int k = 0; k < 4; k++) {
                int ky = k / 2, kx = k % 2;
                float *trow = t + ((size_t)co * 4 + k) * ld + (size_t)gi * HW;
                for (int i = 0; i < a->H; i++) {
                    float *yrow = yb + ((size_t)co * 2 * a->H + 2 * i + ky) * W2 + kx;
                    float *tp = trow + (size_t)i * a->W;
                    if (gather)
                        for (int j = 0; j < a->W; j++) tp[j] = yrow[2 * j];
                    else
                        for (int j = 0; j < a->W; j++) yrow[2 * j] = tp[j] + bc;
                }
            }
        }
}

/* As conv2d: chunks on the threads when there are enough of them, each
 * with its own operand matrices, dw partials per thread. */
static conv_plan plan_convt(const convt_attr *a, size_t HW) {
    conv_attr c = {.B = a->B};
    return plan_conv(&c, HW, a->Co * 4, a->Ci);
}

/* On 1x1 images (DiP's first up-sampling, out of the bottleneck) the NCHW
 * rows are already the product's: y (B, Co*4) = x (B, Ci) @ w (Ci, Co*4),
 * no chunks and no shuffles; backward dx += dy @ w^T, dw += x^T @ dy. */
static pd_status convt_1x1_fwd(pd_ctx *ctx, const convt_attr *a, const float *x, const float *w,
                               const float *b, float *y) {
    int M = a->Co * 4;
    pd_status st = pd_gemm(pd_ctx_precision(ctx), false, false, a->B, M, a->Ci, 1.0f, x, a->Ci, w, M,
                           0.0f, y, M);
    if (st || !b) return st;
#pragma omp parallel for if ((size_t)a->B * M > PD_PAR_MIN)
    for (int n = 0; n < a->B; n++)
        for (int k = 0; k < M; k++) y[(size_t)n * M + k] += b[k / 4];
    return PD_OK;
}

static pd_status convt_1x1_bwd(pd_ctx *ctx, const convt_attr *a, const float *x, const float *w,
                               const float *dy, float *dx, float *dw) {
    int M = a->Co * 4;
    pd_precision prec = pd_ctx_precision(ctx);
    pd_status st = PD_OK;
    if (dx) st = pd_gemm(prec, false, true, a->B, a->Ci, M, 1.0f, dy, M, w, M, 1.0f, dx, a->Ci);
    if (!st && dw) st = pd_gemm(prec, true, false, a->Ci, M, a->B, 1.0f, x, a->Ci, dy, M, 1.0f, dw, M);
    return st;
}

static pd_status convt_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    const convt_attr *a = attr;
    const pd_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    size_t HW = (size_t)a->H * a->W;
    int M = a->Co * 4;
    if (HW == 1) return convt_1x1_fwd(ctx, a, x->data, w->data, b ? b->data : NULL, y->data);
    conv_plan pl = plan_convt(a, HW);
    size_t nt_ = pad16((size_t)M * pl.G * HW), nx = pad16((size_t)a->Ci * pl.G * HW);
    size_t per = nt_ + nx;
    float *scratch, *unused;
    if (!conv_scratch(ctx, per * pl.nt, 0, &scratch, &unused)) return PD_ERR_NOMEM;
    pd_precision prec = pd_ctx_precision(ctx);
    pd_status status = PD_OK;
#pragma omp parallel for num_threads(pl.nt) schedule(static) if (pl.nt > 1)
    for (int c = 0; c < pl.n_chunks; c++) {
        float *t = scratch + per * (size_t)thread_index(), *xm = t + nt_;
        int n0 = c * pl.G, g = a->B - n0 < pl.G ? a->B - n0 : pl.G, gl = g * (int)HW;
        chunk_shuffle(xm, x->data, n0, g, 0, a->Ci, a->Ci, HW, NULL, false);
        pd_status st = pd_gemm(prec, true, false, M, gl, a->Ci, 1.0f, w->data, M, xm, gl, 0.0f, t, gl);
        if (st) {
#pragma omp atomic write
            status = st;
            continue;
        }
        convt_shuffle(a, t, y->data, n0, g, b ? b->data : NULL, false);
    }
    return status;
}

/* Per chunk: dt = gather(dy); dX (Ci, g*HW) = w (Ci, Co*4) @ dt, added into
 * dx; dw += X @ dt^T (into a per-thread partial when chunks run on the
 * threads, added to w's gradient in thread order). */
static pd_status convt_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    const convt_attr *a = attr;
    pd_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    size_t HW = (size_t)a->H * a->W;
    int M = a->Co * 4;
    if ((x->grad || w->grad) && HW == 1) {
        pd_status st = convt_1x1_bwd(ctx, a, x->data, w->data, y->grad, x->grad, w->grad);
        if (st) return st;
    } else if (x->grad || w->grad) {
        conv_plan pl = plan_convt(a, HW);
        size_t nt_ = pad16((size_t)M * pl.G * HW);
        size_t nx = pad16((size_t)a->Ci * pl.G * HW);
        size_t nw = (size_t)a->Ci * M, nwa = pad16(nw);
        bool partials = w->grad && pl.nt > 1;
        size_t per = nt_ + nx + (partials ? nwa : 0);
        float *scratch, *unused;
        if (!conv_scratch(ctx, per * pl.nt, 0, &scratch, &unused)) return PD_ERR_NOMEM;
        if (partials)
            for (int t = 0; t < pl.nt; t++) memset(scratch + per * t + nt_ + nx, 0, nw * sizeof(float));
        pd_precision prec = pd_ctx_precision(ctx);
        pd_status status = PD_OK;
#pragma omp parallel for num_threads(pl.nt) schedule(static) if (pl.nt > 1)
        for (int c = 0; c < pl.n_chunks; c++) {
            float *dt = scratch + per * (size_t)thread_index(), *xm = dt + nt_;
            float *dw = partials ? xm + nx : w->grad;
            int n0 = c * pl.G, g = a->B - n0 < pl.G ? a->B - n0 : pl.G, gl = g * (int)HW;
            pd_status st = PD_OK;
            convt_shuffle(a, dt, y->grad, n0, g, NULL, true);
            if (w->grad) {
                chunk_shuffle(xm, x->data, n0, g, 0, a->Ci, a->Ci, HW, NULL, false);
                st = pd_gemm(prec, false, true, a->Ci, M, gl, 1.0f, xm, gl, dt, gl, 1.0f, dw, M);
            }
            if (x->grad && !st) {
                st = pd_gemm(prec, false, false, a->Ci, gl, M, 1.0f, w->data, M, dt, gl, 0.0f, xm, gl);
                /* dx[n] (Ci, HW) += the chunk's columns */
                size_t ld = (size_t)gl;
#pragma omp parallel for collapse(2) if (!st && (size_t)a->Ci * ld > PD_PAR_MIN)
                for (int gi = 0; gi < g; gi++)
                    for (int ci = 0; ci < a->Ci; ci++) {
                        float *dst = x->grad + ((size_t)(n0 + gi) * a->Ci + ci) * HW;
                        const float *src = xm + (size_t)ci * ld + (size_t)gi * HW;
                        for (size_t i = 0; i < HW; i++) dst[i] += src[i];
                    }
            }
            if (st) {
#pragma omp atomic write
                status = st;
            }
        }
        if (status) return status;
        if (partials) add_thread_partials(w->grad, scratch, per, nt_ + nx, pl.nt, nw);
    }
    if (b && b->grad) pd_conv_bias_grad_add(b->grad, y->grad, a->B, a->Co, 4 * HW);
    return PD_OK;
}

static const pd_op_def convt_op = {"conv_transpose2x2", convt_fwd, convt_bwd};

pd_tensor *pd_conv_transpose2x2(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b) {
    PD_OP_GUARD(ctx, x, w);
    if (x->ndim != 4 || w->ndim != 4 || w->shape[0] != x->shape[1] || w->shape[2] != 2 ||
        w->shape[3] != 2) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "conv_transpose2x2: x %s and w %s: expected x (B, Ci, H, W) and w (Ci, Co, 2, 2)",
                    SHP(x), SHP(w));
        return NULL;
    }
    convt_attr a = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[1]};
    if (b && (b->ndim != 1 || b->shape[0] != a.Co)) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "conv_transpose2x2: b %s does not match w %s: expected (%d,)",
                    SHP(b), SHP(w), a.Co);
        return NULL;
    }
    int shape[4] = {a.B, a.Co, 2 * a.H, 2 * a.W};
    pd_tensor *ins[3] = {x, w, b};
    return pd_op_apply(ctx, &convt_op, ins, b ? 3 : 2, shape, 4, &a, sizeof a);
}
