/* Native bf16 GEMM behind the seam: oneDNN's matmul primitive with bf16
 * operands, fp32 accumulation and an fp32 destination. See gemm_dnnl.h.
 *
 * The operands go to oneDNN as they are stored: op(A) and op(B) are
 * described by strides (a transposed operand is the "ba" layout), so no
 * call transposes anything. bf16 converts each operand once, row by row
 * into a dense copy (ties to even, the rounding of pd_bf16_round; a
 * vectorised loop, rows split over the threads outside OpenMP regions);
 * fp32 passes the caller's pointers and leading dimensions straight
 * through, no copy at all. Dense operands run oneDNN's brgemm kernels in
 * either layout (non-dense fp32 ones its jit sgemm). alpha is the
 * primitive's output scale and beta a sum post-op, so
 * C = alpha op(A) op(B) + beta C in one pass.
 *
 * Primitives are cached by shape, layout and leading dimensions (creating
 * one costs tens of microseconds, a step makes thousands of calls over a
 * few dozen shapes). The cache takes a mutex only to look up and insert;
 * execution runs outside it, on the calling thread's stream and memory
 * objects, and the converted operands and oneDNN's scratchpad
 * (user scratchpad mode) in a per-thread buffer that only grows, so calls
 * from several OpenMP threads at once (attention's heads) share nothing
 * mutable and a step does not fault in fresh pages for every product. */
#include "gemm_dnnl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "gemm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define CACHE_SLOTS 1024 /* power of two; a model uses well under 200 shapes */

typedef struct gemm_key {
    int bf16, ta, tb, M, N, K, lda, ldb, ldc;
    float alpha, beta;
} gemm_key;

typedef struct cache_slot {
    bool used;
    gemm_key key;
    dnnl_primitive_t prim;
    size_t scratch_bytes;
} cache_slot;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cache_slot cache[CACHE_SLOTS];
static int cache_used;
static dnnl_engine_t engine; /* created once under cache_lock, never destroyed */

static bool key_equal(const gemm_key *a, const gemm_key *b) {
    return a->bf16 == b->bf16 && a->ta == b->ta && a->tb == b->tb && a->M == b->M &&
           a->N == b->N && a->K == b->K && a->lda == b->lda && a->ldb == b->ldb &&
           a->ldc == b->ldc && a->alpha == b->alpha && a->beta == b->beta;
}

static uint32_t key_hash(const gemm_key *k) {
    uint32_t h = 2166136261u;
    const int v[9] = {k->bf16, k->ta, k->tb, k->M, k->N, k->K, k->lda, k->ldb, k->ldc};
    for (int i = 0; i < 9; i++) h = (h ^ (uint32_t)v[i]) * 16777619u;
    uint32_t fa, fb;
    memcpy(&fa, &k->alpha, sizeof fa);
    memcpy(&fb, &k->beta, sizeof fb);
    h = (h ^ fa) * 16777619u;
    return (h ^ fb) * 16777619u;
}

/* Creates the primitive for key k; NULL with *why set when oneDNN has no
 * implementation for it (bf16 on a CPU without bf16 support). */
static dnnl_primitive_t create_primitive(const gemm_key *k, size_t *scratch_bytes,
                                         dnnl_status_t *why) {
    dnnl_data_type_t in_t = k->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t ad = {k->M, k->K}, bd = {k->K, k->N}, cd = {k->M, k->N};
    /* op(A) (M, K) and op(B) (K, N) as stored: a transposed one walks its
     * rows with stride 1 */
    dnnl_dims_t as = {k->ta ? 1 : k->lda, k->ta ? k->lda : 1};
    dnnl_dims_t bs = {k->tb ? 1 : k->ldb, k->tb ? k->ldb : 1};
    dnnl_dims_t cs = {k->ldc, 1};
    dnnl_memory_desc_t am, bm, cm;
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_status_t e;
    if ((e = dnnl_memory_desc_init_by_strides(&am, 2, ad, in_t, as)) ||
        (e = dnnl_memory_desc_init_by_strides(&bm, 2, bd, in_t, bs)) ||
        (e = dnnl_memory_desc_init_by_strides(&cm, 2, cd, dnnl_f32, cs)) ||
        (e = dnnl_matmul_desc_init(&md, &am, &bm, NULL, &cm)) ||
        (e = dnnl_primitive_attr_create(&attr)) ||
        (e = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)))
        goto out;
    if (k->alpha != 1.0f && (e = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha)))
        goto out;
    if (k->beta != 0.0f) {
        if ((e = dnnl_post_ops_create(&po)) || (e = dnnl_post_ops_append_sum(po, k->beta)) ||
            (e = dnnl_primitive_attr_set_post_ops(attr, po)))
            goto out;
    }
    if ((e = dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL))) goto out;
    const dnnl_memory_desc_t *sm = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    *scratch_bytes = sm ? dnnl_memory_desc_get_size(sm) : 0;
    e = dnnl_primitive_create(&prim, pd);
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    *why = e;
    return e == dnnl_success ? prim : NULL;
}

/* The cached primitive for k (created on first use); when the cache is
 * full the primitive comes back with *owned set and the caller destroys
 * it after use. */
static pd_status get_primitive(const gemm_key *k, dnnl_primitive_t *prim, size_t *scratch,
                               bool *owned) {
    dnnl_status_t e = dnnl_success;
    pd_status st = PD_OK;
    *owned = false;
    pthread_mutex_lock(&cache_lock);
    if (!engine && (e = dnnl_engine_create(&engine, dnnl_cpu, 0)) != dnnl_success) {
        engine = NULL;
        st = pd_fail(PD_ERR_ARG, "gemm (oneDNN): no CPU engine: %s", dnnl_status2str(e));
        goto done;
    }
    uint32_t h = key_hash(k) & (CACHE_SLOTS - 1);
    for (int probe = 0; probe < CACHE_SLOTS; probe++, h = (h + 1) & (CACHE_SLOTS - 1)) {
        cache_slot *s = &cache[h];
        if (s->used && key_equal(&s->key, k)) {
            *prim = s->prim;
            *scratch = s->scratch_bytes;
            goto done;
        }
        if (!s->used) break;
    }
    *prim = create_primitive(k, scratch, &e);
    if (!*prim) {
        st = pd_fail(PD_ERR_ARG, "gemm (oneDNN %s): no matmul for %d x %d x %d: %s",
                     k->bf16 ? "bf16" : "f32", k->M, k->N, k->K, dnnl_status2str(e));
        goto done;
    }
    if (cache_used >= CACHE_SLOTS / 2) { /* keep probes short: past half full, don't cache */
        *owned = true;
        goto done;
    }
    cache[h] = (cache_slot){.used = true, .key = *k, .prim = *prim, .scratch_bytes = *scratch};
    cache_used++;
done:
    pthread_mutex_unlock(&cache_lock);
    return st;
}

/* The calling thread's buffer of at least `bytes` (64-byte aligned), kept
 * for the next call; NULL when it cannot grow. */
static _Thread_local unsigned char *tl_buf;
static _Thread_local size_t tl_cap;

static unsigned char *thread_buffer(size_t bytes) {
    if (bytes < 64) bytes = 64; /* fp32 without a scratchpad needs none, but NULL means failure */
    if (bytes <= tl_cap) return tl_buf;
    size_t cap = (bytes + bytes / 4 + 4095) / 4096 * 4096;
    unsigned char *p = aligned_alloc(64, cap);
    if (!p) return NULL;
    free(tl_buf);
    tl_buf = p;
    tl_cap = cap;
    return p;
}

/* The calling thread's stream, made once (a stream costs an allocation
 * and oneDNN bookkeeping; the ops make thousands of calls a step).
 * Other threads' streams outlive pd_gemm_dnnl_release, which therefore
 * keeps the engine. */
static _Thread_local dnnl_stream_t tl_stream;

/* The calling thread's memory objects for one cached primitive, made once
 * and then pointed at each call's operands (setting a handle is a few
 * stores; making four objects a call was allocations and descriptor
 * checks). Tagged with the cache's generation, which pd_gemm_dnnl_release
 * bumps, so that a primitive made later at a freed one's address never
 * meets objects of the old one. */
#define MEM_SETS 256 /* per thread, direct-mapped by primitive */
enum { MEM_A, MEM_B, MEM_C, MEM_SCRATCH, MEM_N };
typedef struct mem_set {
    dnnl_primitive_t prim;
    unsigned gen;
    dnnl_memory_t m[MEM_N];
} mem_set;
static _Thread_local mem_set tl_mem[MEM_SETS];
static atomic_uint cache_gen;

static void mems_destroy(dnnl_memory_t m[MEM_N]) {
    for (int i = 0; i < MEM_N; i++) {
        if (m[i]) dnnl_memory_destroy(m[i]);
        m[i] = NULL;
    }
}

/* m gets prim's four memory objects, with no data yet. */
static dnnl_status_t mems_create(dnnl_primitive_t prim, dnnl_memory_t m[MEM_N]) {
    static const dnnl_query_t what[MEM_N] = {dnnl_query_src_md, dnnl_query_weights_md,
                                             dnnl_query_dst_md, dnnl_query_scratchpad_md};
    const_dnnl_primitive_desc_t pd;
    dnnl_status_t e = dnnl_primitive_get_primitive_desc(prim, &pd);
    for (int i = 0; i < MEM_N && e == dnnl_success; i++)
        e = dnnl_memory_create(&m[i], dnnl_primitive_desc_query_md(pd, what[i], 0), engine,
                               DNNL_MEMORY_NONE);
    if (e != dnnl_success) mems_destroy(m);
    return e;
}

/* The thread's memory objects for a cached prim (made on first use). */
static dnnl_status_t thread_mems(dnnl_primitive_t prim, dnnl_memory_t **m) {
    unsigned gen = atomic_load_explicit(&cache_gen, memory_order_relaxed);
    mem_set *ms = &tl_mem[((uintptr_t)prim >> 6) % MEM_SETS];
    if (ms->prim != prim || ms->gen != gen) {
        mems_destroy(ms->m);
        ms->prim = NULL;
        dnnl_status_t e = mems_create(prim, ms->m);
        if (e != dnnl_success) return e;
        ms->prim = prim;
        ms->gen = gen;
    }
    *m = ms->m;
    return dnnl_success;
}

/* dst (n) = src (n) as bf16 bits, rounded as pd_bf16_round (ties to even,
 * NaN kept quiet), written without branches so that the loop vectorises. */
static void row_to_bf16(uint16_t *restrict dst, const float *restrict src, size_t n) {
#pragma omp simd
    for (size_t c = 0; c < n; c++) {
        uint32_t u;
        memcpy(&u, &src[c], sizeof u);
        uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        uint32_t quiet = (u | 0x00400000u) >> 16;
        dst[c] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
    }
}

#define CONVERT_PAR_MIN ((size_t)1 << 15) /* elements; below, a team costs more than it saves */

/* dst (rows, cols) dense = src (rows, cols; leading dimension ld) as bf16
 * bits. Threads take rows only for a large operand outside an OpenMP
 * region: the per-head products of attention convert a few thousand
 * elements, less than starting a team costs. */
static void to_bf16(uint16_t *restrict dst, const float *restrict src, int rows, int cols,
                    int ld) {
#ifdef _OPENMP
    if (!omp_in_parallel() && (size_t)rows * cols >= CONVERT_PAR_MIN) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++)
            row_to_bf16(dst + (size_t)r * cols, src + (size_t)r * ld, (size_t)cols);
        return;
    }
#endif
    if (ld == cols) { /* dense: one run */
        row_to_bf16(dst, src, (size_t)rows * cols);
        return;
    }
    for (int r = 0; r < rows; r++)
        row_to_bf16(dst + (size_t)r * cols, src + (size_t)r * ld, (size_t)cols);
}

pd_status pd_gemm_dnnl(bool bf16, bool ta, bool tb, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C,
                       int ldc) {
    if (M <= 0 || N <= 0) return PD_OK;
    if (K <= 0) { /* no product: C = beta C, as sgemm does */
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                float *c = C + (size_t)m * ldc + n;
                *c = beta == 0.0f ? 0.0f : beta * *c;
            }
        return PD_OK;
    }
    double mark = pd_gemm_costs_mark();
    /* as stored: A (ar, ac), B (br, bc); bf16 copies are dense */
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    gemm_key k = {.bf16 = bf16, .ta = ta, .tb = tb, .M = M, .N = N, .K = K,
                  .lda = bf16 ? ac : lda, .ldb = bf16 ? bc : ldb, .ldc = ldc,
                  .alpha = alpha, .beta = beta};
    dnnl_primitive_t prim;
    size_t scratch_bytes;
    bool owned;
    pd_status st = get_primitive(&k, &prim, &scratch_bytes, &owned);
    if (st != PD_OK) return st;

    size_t na = bf16 ? (size_t)ar * ac * sizeof(uint16_t) : 0;
    size_t nb = bf16 ? (size_t)br * bc * sizeof(uint16_t) : 0;
    size_t off_b = (na + 63) / 64 * 64, off_s = off_b + (nb + 63) / 64 * 64;
    unsigned char *buf = thread_buffer(off_s + scratch_bytes);
    dnnl_memory_t own[MEM_N] = {NULL}, *m = own; /* own: an uncached primitive's */
    dnnl_status_t e = dnnl_success;
    if (!buf) {
        st = pd_fail(PD_ERR_NOMEM, "gemm (oneDNN): no memory for the converted operands of a "
                     "%d x %d x %d product", M, N, K);
        goto out;
    }
    if (!tl_stream && (e = dnnl_stream_create(&tl_stream, engine, dnnl_stream_default_flags))) {
        tl_stream = NULL;
        goto out;
    }
    if ((e = owned ? mems_create(prim, own) : thread_mems(prim, &m))) goto out;
    void *a_data = (void *)A, *b_data = (void *)B;
    pd_gemm_costs_add(PD_GEMM_SETUP, &mark);
    if (bf16) {
        to_bf16((uint16_t *)buf, A, ar, ac, lda);
        to_bf16((uint16_t *)(buf + off_b), B, br, bc, ldb);
        a_data = buf;
        b_data = buf + off_b;
        pd_gemm_costs_add(PD_GEMM_CONVERT, &mark);
    }
    if ((e = dnnl_memory_set_data_handle(m[MEM_A], a_data)) ||
        (e = dnnl_memory_set_data_handle(m[MEM_B], b_data)) ||
        (e = dnnl_memory_set_data_handle(m[MEM_C], C)) ||
        (e = dnnl_memory_set_data_handle(m[MEM_SCRATCH], buf + off_s)))
        goto out;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, m[MEM_A]}, {DNNL_ARG_WEIGHTS, m[MEM_B]},
                              {DNNL_ARG_DST, m[MEM_C]}, {DNNL_ARG_SCRATCHPAD, m[MEM_SCRATCH]}};
    pd_gemm_costs_add(PD_GEMM_SETUP, &mark);
    if ((e = dnnl_primitive_execute(prim, tl_stream, 4, args))) goto out;
    e = dnnl_stream_wait(tl_stream);
    pd_gemm_costs_add(PD_GEMM_COMPUTE, &mark);
out:
    if (e != dnnl_success)
        st = pd_fail(PD_ERR_ARG, "gemm (oneDNN %s): %d x %d x %d product failed: %s",
                     bf16 ? "bf16" : "f32", M, N, K, dnnl_status2str(e));
    mems_destroy(own);
    if (owned) dnnl_primitive_destroy(prim);
    pd_gemm_costs_add(PD_GEMM_SETUP, &mark);
    return st;
}

const char *pd_gemm_dnnl_problem(bool bf16) {
    static _Thread_local char msg[256];
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4] = {0};
    if (pd_gemm_dnnl(bf16, false, false, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2) != PD_OK) {
        snprintf(msg, sizeof msg, "%s", pd_last_error());
        return msg;
    }
    if (c[0] != 1 || c[1] != 2 || c[2] != 3 || c[3] != 4) {
        snprintf(msg, sizeof msg, "oneDNN %s matmul gave a wrong 2x2 product",
                 bf16 ? "bf16" : "f32");
        return msg;
    }
    return NULL;
}

void pd_gemm_dnnl_release(void) {
    free(tl_buf); /* the calling thread's; other threads keep theirs */
    tl_buf = NULL;
    tl_cap = 0;
    if (tl_stream) dnnl_stream_destroy(tl_stream);
    tl_stream = NULL;
    for (int i = 0; i < MEM_SETS; i++) { /* other threads' sets go stale by the generation */
        mems_destroy(tl_mem[i].m);
        tl_mem[i].prim = NULL;
    }
    atomic_fetch_add(&cache_gen, 1);
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].used) dnnl_primitive_destroy(cache[i].prim);
    memset(cache, 0, sizeof cache);
    cache_used = 0;
    pthread_mutex_unlock(&cache_lock); /* the engine stays: other threads' streams use it */
}
