/* Exact fused attention kernels (FlashAttention-2's schedule on a CPU).
 *
 * Logits are kept in base 2: q is multiplied once by scale * log2(e), so a
 * probability is exp2(s - row max) and the saved statistic is
 * lse2 = log2(sum_j exp2(s_j)); this is the same softmax, one multiply
 * cheaper per logit.
 *
 * Every product is one routine, flash_gemm_tile (C (m, n) = or +=
 * A (m, k) B (k, n), row-major; gemm_tile_tn reads A transposed), run on
 * thread-local copies padded so that m is a multiple of 4 and n of 16: its
 * 4 x 16 accumulator tile is eight 8-float vectors that stay in registers
 * (one AVX register each; AVX-512 machines also run it 8 wide). The padding
 * is zero, so padded rows and columns contribute nothing.
 *
 * Threads: the forward splits (head, query block) pairs; the backward gives
 * each thread whole heads and walks key blocks outside, query blocks inside,
 * so dK and dV of a key block and dQ of the head are each summed by one
 * thread in one fixed order: the result is the same on any thread count. */
#include "flash_kernel.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define LOG2E 1.44269504088896341f

static inline int round_up(int x, int m) { return (x + m - 1) / m * m; }
static inline int min_int(int a, int b) { return a < b ? a : b; }

/* 2^x for x in [-126, 126] (clamped), within about 2 ulp: x = n + f with
 * |f| <= 1/2 and the degree-7 Taylor series of 2^f (its truncation error,
 * 5e-9, is below float rounding). Plain arithmetic, so loops over it
 * vectorise (libm's exp2f is a call). */
static inline float fast_exp2(float x) {
    x = x < -126.0f ? -126.0f : (x > 126.0f ? 126.0f : x);
    float n = floorf(x + 0.5f), f = x - n;
    float p = 1.5252733804e-5f;
    p = p * f + 1.5403530393e-4f;
    p = p * f + 1.3333558146e-3f;
    p = p * f + 9.6181291076e-3f;
    p = p * f + 5.5504108665e-2f;
    p = p * f + 2.4022650696e-1f;
    p = p * f + 6.9314718056e-1f;
    p = p * f + 1.0f;
    union { int32_t i; float f; } two_n = {.i = ((int32_t)n + 127) << 23};
    return p * two_n.f;
}

/* Eight floats, unaligned: GCC's vector extension, which compiles to one
 * AVX register (two SSE ones without AVX). Plain loops over a 4 x 16 array
 * did not stay in registers (GCC vectorised them 4-wide through memory). */
typedef float v8f __attribute__((vector_size(32), aligned(4)));

static inline v8f load8(const float *p) { return *(const v8f *)p; }
static inline void store8(float *p, v8f v) { *(v8f *)p = v; }

/* C (m, n) = A (m, k) B (k, n), or += when acc; m % 4 == 0, n % 16 == 0.
 * Each 4 x 16 tile of C is eight vector accumulators; every step of k
 * loads two vectors of B and broadcasts four elements of A (8 FMAs). */
void flash_gemm_tile(int m, int n, int k, const float *restrict a, int lda,
                     const float *restrict b, int ldb, float *restrict c, int ldc, int acc) {
    for (int i = 0; i < m; i += 4) {
        const float *a0 = a + (size_t)i * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        float *c0 = c + (size_t)i * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
        for (int j = 0; j < n; j += 16) {
            v8f z = {0}, t00 = z, t01 = z, t10 = z, t11 = z, t20 = z, t21 = z, t30 = z, t31 = z;
            if (acc) {
                t00 = load8(c0 + j), t01 = load8(c0 + j + 8), t10 = load8(c1 + j);
                t11 = load8(c1 + j + 8), t20 = load8(c2 + j), t21 = load8(c2 + j + 8);
                t30 = load8(c3 + j), t31 = load8(c3 + j + 8);
            }
            const float *bp = b + j;
            for (int p = 0; p < k; p++, bp += ldb) {
                v8f b0 = load8(bp), b1 = load8(bp + 8);
                t00 += a0[p] * b0, t01 += a0[p] * b1;
                t10 += a1[p] * b0, t11 += a1[p] * b1;
                t20 += a2[p] * b0, t21 += a2[p] * b1;
                t30 += a3[p] * b0, t31 += a3[p] * b1;
            }
            store8(c0 + j, t00), store8(c0 + j + 8, t01), store8(c1 + j, t10);
            store8(c1 + j + 8, t11), store8(c2 + j, t20), store8(c2 + j + 8, t21);
            store8(c3 + j, t30), store8(c3 + j + 8, t31);
        }
    }
}

/* C (m, n) += A^T B with A stored (k, m): the same tile, reading the four
 * elements of A it broadcasts from one row (no transposed copy needed). */
static void gemm_tile_tn(int m, int n, int k, const float *restrict a, int lda,
                         const float *restrict b, int ldb, float *restrict c, int ldc) {
    for (int i = 0; i < m; i += 4) {
        float *c0 = c + (size_t)i * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
        for (int j = 0; j < n; j += 16) {
            v8f t00 = load8(c0 + j), t01 = load8(c0 + j + 8), t10 = load8(c1 + j);
            v8f t11 = load8(c1 + j + 8), t20 = load8(c2 + j), t21 = load8(c2 + j + 8);
            v8f t30 = load8(c3 + j), t31 = load8(c3 + j + 8);
            const float *ap = a + i, *bp = b + j;
            for (int p = 0; p < k; p++, ap += lda, bp += ldb) {
                v8f b0 = load8(bp), b1 = load8(bp + 8);
                t00 += ap[0] * b0, t01 += ap[0] * b1;
                t10 += ap[1] * b0, t11 += ap[1] * b1;
                t20 += ap[2] * b0, t21 += ap[2] * b1;
                t30 += ap[3] * b0, t31 += ap[3] * b1;
            }
            store8(c0 + j, t00), store8(c0 + j + 8, t01), store8(c1 + j, t10);
            store8(c1 + j + 8, t11), store8(c2 + j, t20), store8(c2 + j + 8, t21);
            store8(c3 + j, t30), store8(c3 + j + 8, t31);
        }
    }
}

/* dst (cols_pad, rows_pad) = src (rows, cols)^T, zero elsewhere. */
static void transpose_pad(const float *src, int rows, int cols, int lds, float *dst, int rows_pad,
                          int cols_pad) {
    for (int c = 0; c < cols_pad; c++) {
        float *d = dst + (size_t)c * rows_pad;
        if (c >= cols) {
            memset(d, 0, (size_t)rows_pad * sizeof(float));
            continue;
        }
        for (int r = 0; r < rows; r++) d[r] = src[(size_t)r * lds + c];
        for (int r = rows; r < rows_pad; r++) d[r] = 0.0f;
    }
}

/* dst (rows_pad, cols_pad) = alpha * src (rows, cols), zero elsewhere. */
static void copy_pad(const float *src, int rows, int cols, float alpha, float *dst, int rows_pad,
                     int cols_pad) {
    for (int r = 0; r < rows_pad; r++) {
        float *d = dst + (size_t)r * cols_pad;
        int c = 0;
        if (r < rows)
            for (; c < cols; c++) d[c] = alpha * src[(size_t)r * cols + c];
        for (; c < cols_pad; c++) d[c] = 0.0f;
    }
}

/* ---- forward ------------------------------------------------------------ */

/* Per-thread layout of the forward scratch (floats). */
typedef struct {
    int bq4, bkp, dp;
    size_t qs, kt, vb, s, oacc, mrow, lrow, total;
} fwd_layout;

static fwd_layout fwd_plan(const flash_dims *dm) {
    fwd_layout L = {.bq4 = round_up(dm->bq, 4), .bkp = round_up(dm->bk, 16), .dp = round_up(dm->d, 16)};
    size_t off = 0;
    L.qs = off, off += (size_t)L.bq4 * L.dp;   /* (bq4, dp) scaled q block */
    L.kt = off, off += (size_t)L.dp * L.bkp;   /* (d, bkp) k block transposed */
    L.vb = off, off += (size_t)L.bkp * L.dp;   /* (bkp, dp) v block */
    L.s = off, off += (size_t)L.bq4 * L.bkp;   /* (bq4, bkp) logits, then P */
    L.oacc = off, off += (size_t)L.bq4 * L.dp; /* (bq4, dp) unnormalised output */
    L.mrow = off, off += (size_t)L.bq4;        /* running row max (base 2) */
    L.lrow = off, off += (size_t)L.bq4;        /* running row sum */
    L.total = off + 16;                        /* slack: keeps threads' copies apart */
    return L;
}

size_t flash_fwd_scratch(const flash_dims *dm) { return fwd_plan(dm).total; }

int flash_fwd_tasks(const flash_dims *dm) {
    return dm->bh * ((dm->n + dm->bq - 1) / dm->bq);
}

/* One query block of one head: rows [i0, i0 + qb) of q (N, d) -> o, lse. */
static void fwd_block(const flash_dims *dm, const fwd_layout *L, const float *q, const float *k,
                      const float *v, float *o, float *lse, int i0, float *w) {
    int d = dm->d, M = dm->m, qb = min_int(dm->bq, dm->n - i0), qb4 = round_up(qb, 4);
    int dp = L->dp, bkp = L->bkp;
    float *qs = w + L->qs, *kt = w + L->kt, *vb = w + L->vb, *s = w + L->s, *oacc = w + L->oacc;
    float *mrow = w + L->mrow, *lrow = w + L->lrow;
    copy_pad(q + (size_t)i0 * d, qb, d, dm->scale * LOG2E, qs, qb4, dp);
    memset(oacc, 0, (size_t)qb4 * dp * sizeof(float));
    for (int r = 0; r < qb4; r++) mrow[r] = -INFINITY, lrow[r] = 0.0f;

    for (int j0 = 0; j0 < M; j0 += dm->bk) {
        int kb = min_int(dm->bk, M - j0), kbp = round_up(kb, 16);
        transpose_pad(k + (size_t)j0 * d, kb, d, d, kt, bkp, d);
        copy_pad(v + (size_t)j0 * d, kb, d, 1.0f, vb, kbp, dp);
        /* S (qb4, kbp) = qs (qb4, d) kt (d, kbp) */
        flash_gemm_tile(qb4, kbp, d, qs, dp, kt, bkp, s, bkp, 0);
        for (int r = 0; r < qb4; r++) {
            float *sr = s + (size_t)r * bkp, mx = sr[0];
#pragma omp simd reduction(max : mx)
            for (int j = 1; j < kb; j++) mx = sr[j] > mx ? sr[j] : mx;
            float mnew = mx > mrow[r] ? mx : mrow[r];
            float alpha = mrow[r] == -INFINITY ? 0.0f : fast_exp2(mrow[r] - mnew);
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < kb; j++) {
                sr[j] = fast_exp2(sr[j] - mnew);
                sum += sr[j];
            }
            for (int j = kb; j < kbp; j++) sr[j] = 0.0f;
            lrow[r] = lrow[r] * alpha + sum;
            mrow[r] = mnew;
            float *orow = oacc + (size_t)r * dp;
            for (int c = 0; c < dp; c++) orow[c] *= alpha;
        }
        /* oacc (qb4, dp) += P (qb4, kbp) vb (kbp, dp) */
        flash_gemm_tile(qb4, dp, kbp, s, bkp, vb, dp, oacc, dp, 1);
    }
    for (int r = 0; r < qb; r++) {
        float inv = 1.0f / lrow[r], *orow = o + (size_t)(i0 + r) * d;
        for (int c = 0; c < d; c++) orow[c] = oacc[(size_t)r * dp + c] * inv;
        if (lse) lse[i0 + r] = mrow[r] + log2f(lrow[r]);
    }
}

void flash_forward(const flash_dims *dm, const float *q, const float *k, const float *v, float *o,
                   float *lse, float *scratch, int threads) {
    fwd_layout L = fwd_plan(dm);
    int nqb = (dm->n + dm->bq - 1) / dm->bq, tasks = dm->bh * nqb;
    size_t qd = (size_t)dm->n * dm->d, kd = (size_t)dm->m * dm->d;
    (void)threads;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (int t = 0; t < tasks; t++) {
        int h = t / nqb, i0 = t % nqb * dm->bq;
#ifdef _OPENMP
        float *w = scratch + (size_t)omp_get_thread_num() * L.total;
#else
        float *w = scratch;
#endif
        fwd_block(dm, &L, q + h * qd, k + h * kd, v + h * kd, o + h * qd,
                  lse ? lse + (size_t)h * dm->n : NULL, i0, w);
    }
}

/* ---- backward ----------------------------------------------------------- */

typedef struct {
    int n4, bq4, bkp, dp;
    size_t qp, qs, dop, dqacc, drow, lrow;      /* whole head, (n4, dp) / (n4) */
    size_t kt, vt, kb, dkacc, dvacc;            /* one key block */
    size_t p, ds;                               /* one (query, key) tile */
    size_t total;
} bwd_layout;

static bwd_layout bwd_plan(const flash_dims *dm) {
    bwd_layout L = {.n4 = round_up(dm->n, 4), .bq4 = round_up(dm->bq, 4),
                    .bkp = round_up(dm->bk, 16), .dp = round_up(dm->d, 16)};
    size_t off = 0, nd = (size_t)L.n4 * L.dp, kd = (size_t)L.bkp * L.dp,
           tile = (size_t)L.bq4 * L.bkp;
    L.qp = off, off += nd;      /* q, padded */
    L.qs = off, off += nd;      /* q * scale * log2(e), padded */
    L.dop = off, off += nd;     /* dout, padded */
    L.dqacc = off, off += nd;   /* sum of dS K, unscaled */
    L.drow = off, off += L.n4;  /* D = rowsum(dout * o) */
    L.lrow = off, off += L.n4;  /* lse, padded */
    L.kt = off, off += kd;      /* (d, bkp) k block transposed */
    L.vt = off, off += kd;      /* (d, bkp) v block transposed */
    L.kb = off, off += kd;      /* (bkp, dp) k block */
    L.dkacc = off, off += kd;   /* (bkp, dp) sum of dS^T q */
    L.dvacc = off, off += kd;   /* (bkp, dp) sum of P^T dout */
    L.p = off, off += tile;     /* (bq4, bkp) P */
    L.ds = off, off += tile;    /* (bq4, bkp) dP, then dS */
    L.total = off + 16;
    return L;
}

size_t flash_bwd_scratch(const flash_dims *dm) { return bwd_plan(dm).total; }

int flash_bwd_tasks(const flash_dims *dm) { return dm->bh; }

/* One head. P = exp2(S - lse);  dV = P^T dO;  dP = dO V^T;
 * dS = P * (dP - D) with D = rowsum(dO * O) (= rowsum(P * dP));
 * dQ = scale dS K;  dK = scale dS^T Q. */
static void bwd_head(const flash_dims *dm, const bwd_layout *L, const float *q, const float *k,
                     const float *v, const float *o, const float *dout, const float *lse,
                     float *dq, float *dk, float *dv, float *w) {
    int N = dm->n, M = dm->m, d = dm->d, n4 = L->n4, dp = L->dp, bkp = L->bkp;
    float *qp = w + L->qp, *qs = w + L->qs, *dop = w + L->dop, *dqacc = w + L->dqacc;
    float *drow = w + L->drow, *lrow = w + L->lrow, *kt = w + L->kt, *vt = w + L->vt;
    float *kbuf = w + L->kb, *dkacc = w + L->dkacc, *dvacc = w + L->dvacc;
    float *p = w + L->p, *ds = w + L->ds;
    bool want_s = dq || dk;
    copy_pad(q, N, d, 1.0f, qp, n4, dp);
    copy_pad(q, N, d, dm->scale * LOG2E, qs, n4, dp);
    copy_pad(dout, N, d, 1.0f, dop, n4, dp);
    if (dq) memset(dqacc, 0, (size_t)n4 * dp * sizeof(float));
    for (int r = 0; r < n4; r++) {
        float dot = 0.0f;
        if (r < N) {
            const float *a = dout + (size_t)r * d, *b = o + (size_t)r * d;
#pragma omp simd reduction(+ : dot)
            for (int c = 0; c < d; c++) dot += a[c] * b[c];
        }
        drow[r] = dot;
        lrow[r] = r < N ? lse[r] : 0.0f;
    }

    for (int j0 = 0; j0 < M; j0 += dm->bk) {
        int kb = min_int(dm->bk, M - j0), kbp = round_up(kb, 16);
        transpose_pad(k + (size_t)j0 * d, kb, d, d, kt, bkp, d);
        transpose_pad(v + (size_t)j0 * d, kb, d, d, vt, bkp, d);
        copy_pad(k + (size_t)j0 * d, kb, d, 1.0f, kbuf, kbp, dp);
        memset(dkacc, 0, (size_t)kbp * dp * sizeof(float));
        memset(dvacc, 0, (size_t)kbp * dp * sizeof(float));
        for (int i0 = 0; i0 < N; i0 += dm->bq) {
            int qb = min_int(dm->bq, N - i0), qb4 = round_up(qb, 4);
            /* S (qb4, kbp) = qs (qb4, d) kt (d, kbp): the forward's logits, bit for bit */
            flash_gemm_tile(qb4, kbp, d, qs + (size_t)i0 * dp, dp, kt, bkp, p, bkp, 0);
            for (int r = 0; r < qb4; r++) {
                float *pr = p + (size_t)r * bkp, l = lrow[i0 + r];
                int live = r < qb ? kb : 0;
                for (int j = 0; j < live; j++) pr[j] = fast_exp2(pr[j] - l);
                for (int j = live; j < kbp; j++) pr[j] = 0.0f;
            }
            if (dv) /* dvacc (kbp, dp) += P^T (kbp, qb4) dout (qb4, dp) */
                gemm_tile_tn(kbp, dp, qb4, p, bkp, dop + (size_t)i0 * dp, dp, dvacc, dp);
            if (!want_s) continue;
            /* dP (qb4, kbp) = dout (qb4, d) vt (d, kbp) */
            flash_gemm_tile(qb4, kbp, d, dop + (size_t)i0 * dp, dp, vt, bkp, ds, bkp, 0);
            for (int r = 0; r < qb4; r++) {
                float *dr = ds + (size_t)r * bkp, *pr = p + (size_t)r * bkp, dd = drow[i0 + r];
                for (int j = 0; j < kbp; j++) dr[j] = pr[j] * (dr[j] - dd);
            }
            if (dq) /* dqacc (qb4, dp) += dS (qb4, kbp) k (kbp, dp) */
                flash_gemm_tile(qb4, dp, kbp, ds, bkp, kbuf, dp, dqacc + (size_t)i0 * dp, dp, 1);
            if (dk) /* dkacc (kbp, dp) += dS^T (kbp, qb4) q (qb4, dp) */
                gemm_tile_tn(kbp, dp, qb4, ds, bkp, qp + (size_t)i0 * dp, dp, dkacc, dp);
        }
        for (int j = 0; j < kb; j++)
            for (int c = 0; c < d; c++) {
                size_t g = (size_t)(j0 + j) * d + c, a = (size_t)j * dp + c;
                if (dv) dv[g] += dvacc[a];
                if (dk) dk[g] += dm->scale * dkacc[a];
            }
    }
    if (dq)
        for (int r = 0; r < N; r++)
            for (int c = 0; c < d; c++)
                dq[(size_t)r * d + c] += dm->scale * dqacc[(size_t)r * dp + c];
}

void flash_backward(const flash_dims *dm, const float *q, const float *k, const float *v,
                    const float *o, const float *dout, const float *lse, float *dq, float *dk,
                    float *dv, float *scratch, int threads) {
    bwd_layout L = bwd_plan(dm);
    size_t qd = (size_t)dm->n * dm->d, kd = (size_t)dm->m * dm->d;
    (void)threads;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (int h = 0; h < dm->bh; h++) {
#ifdef _OPENMP
        float *w = scratch + (size_t)omp_get_thread_num() * L.total;
#else
        float *w = scratch;
#endif
        bwd_head(dm, &L, q + h * qd, k + h * kd, v + h * kd, o + h * qd, dout + h * qd,
                 lse + (size_t)h * dm->n, dq ? dq + h * qd : NULL, dk ? dk + h * kd : NULL,
                 dv ? dv + h * kd : NULL, w);
    }
}
