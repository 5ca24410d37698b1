/* GEMM libraries at the model's shapes: OpenBLAS sgemm (as the ops call it,
 * and through the seam pd_gemm), oneDNN's f32 matmul primitive, libxsmm's
 * JIT f32 kernels, and oneDNN's bf16 matmul where the CPU has bf16
 * instructions (otherwise it prints why not and times nothing). The
 * measurements behind the choice of library in core/ops/gemm.h
 * (docs/benchmarks-log.md, "GEMM libraries and bf16").
 *
 * Every product is C (M, N) = A (M, K) B (K, N), row-major, fp32 in and out
 * (oneDNN bf16: A and B converted once, outside the timing; the seam's
 * oneDNN columns run pd_gemm_dnnl as the ops do, the bf16 one converting
 * both operands in every call), no transposes, so all libraries get the
 * same problem. Linear layers are one product with
 * M = batch * tokens; attention is `count` independent per-head products
 * (S = Q K^T and O = P V) run in parallel, as core/ops/attention.c runs
 * them. Rounds alternate the libraries; each cell is the median over the
 * rounds of the mean time of `reps` calls.
 *
 * Usage: bench_gemm [--rounds R] [--reps N] [--preset small|b16|all] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <omp.h>

#include "gemm.h" /* the seam (core/ops), compiled into this program */

#ifdef HAVE_DNNL
#include "gemm_dnnl.h" /* the seam's backend, compiled into this program */
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#endif
#ifdef HAVE_XSMM
#include <libxsmm.h>
#endif

typedef struct {
    const char *model, *what;
    int M, N, K, count; /* count independent products */
} shape;

/* bench-s (= small): 32x32x1, patch 4, D 192, 3 heads of 64, SwiGLU
 * hidden 512, batch 64, 64 image + 8 in-context tokens. JiT-B/16: 256x256,
 * D 768, 12 heads of 64, SwiGLU hidden 2048, batch 4, 256 + 32 tokens. */
static const shape shapes[] = {
    {"small", "qkv      x W^T", 4608, 576, 192, 1},
    {"small", "proj     x W^T", 4608, 192, 192, 1},
    {"small", "w12      x W^T", 4608, 1024, 192, 1},
    {"small", "w3       x W^T", 4608, 192, 512, 1},
    {"small", "attn S = Q K^T", 72, 72, 64, 192},
    {"small", "attn O = P V", 72, 64, 72, 192},
    {"b16", "qkv      x W^T", 1152, 2304, 768, 1},
    {"b16", "proj     x W^T", 1152, 768, 768, 1},
    {"b16", "w12      x W^T", 1152, 4096, 768, 1},
    {"b16", "w3       x W^T", 1152, 768, 2048, 1},
    {"b16", "attn S = Q K^T", 288, 288, 64, 48},
    {"b16", "attn O = P V", 288, 64, 288, 48},
};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

enum { LIB_OPENBLAS, LIB_SEAM, LIB_DNNL, LIB_SEAM_DNNL, LIB_XSMM, LIB_DNNL_BF16, LIB_SEAM_BF16,
       N_LIBS };
static const char *lib_names[N_LIBS] = {"OpenBLAS sgemm", "pd_gemm (seam)", "oneDNN f32",
                                        "seam's oneDNN f32", "libxsmm f32", "oneDNN bf16",
                                        "seam's oneDNN bf16 (converts A, B)"};

typedef struct {
    const shape *s;
    float *A, *B, *C, *ref; /* count * (M K), count * (K N), count * (M N) */
    void *lib[N_LIBS];      /* a library's prepared state, NULL: not available */
    const char *why[N_LIBS];
} problem;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* ---- OpenBLAS, as the ops call it ---------------------------------------- */

static void run_openblas(problem *p, bool seam) {
    const shape *s = p->s;
    size_t sa = (size_t)s->M * s->K, sb = (size_t)s->K * s->N, sc = (size_t)s->M * s->N;
    if (s->count == 1) {
        if (seam)
            pd_gemm(PD_PRECISION_FP32, false, false, s->M, s->N, s->K, 1.0f, p->A, s->K, p->B,
                    s->N, 0.0f, p->C, s->N);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->M, s->N, s->K, 1.0f, p->A,
                        s->K, p->B, s->N, 0.0f, p->C, s->N);
        return;
    }
    /* per-head products on OpenMP threads, one single-threaded sgemm each
     * (the OpenMP build of OpenBLAS), as attention.c */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < s->count; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->M, s->N, s->K, 1.0f, p->A + i * sa,
                    s->K, p->B + i * sb, s->N, 0.0f, p->C + i * sc, s->N);
}

/* ---- oneDNN matmul primitive (f32 or bf16 operands, f32 out) -------------- */

#ifdef HAVE_DNNL
typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
    void *a16, *b16; /* bf16 copies of A and B */
    char impl[128];
} dnnl_state;

static bool dnnl_isa_has_bf16(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16 ||
           (isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx;
}

static const char *dnnl_isa_name(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

/* bf16 bits of x, round to nearest even (the same rounding as pd_bf16_round) */
static uint16_t to_bf16(float x) {
    float r = pd_bf16_round(x);
    uint32_t u;
    memcpy(&u, &r, sizeof u);
    return (uint16_t)(u >> 16);
}

/* Prepares the primitive; NULL and *why on failure (what oneDNN said). */
static dnnl_state *dnnl_prepare(problem *p, bool bf16, const char **why) {
    static char msg[256];
    const shape *s = p->s;
    dnnl_data_type_t in_t = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t ad = {s->count, s->M, s->K}, bd = {s->count, s->K, s->N}, cd = {s->count, s->M, s->N};
    dnnl_memory_desc_t am, bm, cm;
    dnnl_memory_desc_init_by_tag(&am, 3, ad, in_t, dnnl_abc);
    dnnl_memory_desc_init_by_tag(&bm, 3, bd, in_t, dnnl_abc);
    dnnl_memory_desc_init_by_tag(&cm, 3, cd, dnnl_f32, dnnl_abc);
    dnnl_state *st = calloc(1, sizeof *st);
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t e;
    if ((e = dnnl_engine_create(&st->eng, dnnl_cpu, 0)) ||
        (e = dnnl_stream_create(&st->stream, st->eng, dnnl_stream_default_flags)) ||
        (e = dnnl_matmul_desc_init(&md, &am, &bm, NULL, &cm)) ||
        (e = dnnl_primitive_desc_create(&pd, &md, NULL, st->eng, NULL))) {
        snprintf(msg, sizeof msg, "primitive not created: %s", dnnl_status2str(e));
        *why = msg;
        if (st->stream) dnnl_stream_destroy(st->stream);
        if (st->eng) dnnl_engine_destroy(st->eng);
        free(st);
        return NULL;
    }
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(st->impl, sizeof st->impl, "%s", impl);
    dnnl_primitive_create(&st->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    void *a = p->A, *b = p->B;
    if (bf16) {
        size_t na = (size_t)s->count * s->M * s->K, nb = (size_t)s->count * s->K * s->N;
        uint16_t *a16 = malloc(na * 2), *b16 = malloc(nb * 2);
        for (size_t i = 0; i < na; i++) a16[i] = to_bf16(p->A[i]);
        for (size_t i = 0; i < nb; i++) b16[i] = to_bf16(p->B[i]);
        st->a16 = a = a16;
        st->b16 = b = b16;
    }
    dnnl_memory_create(&st->a, &am, st->eng, a);
    dnnl_memory_create(&st->b, &bm, st->eng, b);
    dnnl_memory_create(&st->c, &cm, st->eng, p->C);
    return st;
}

static void run_dnnl(dnnl_state *st) {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, st->a}, {DNNL_ARG_WEIGHTS, st->b}, {DNNL_ARG_DST, st->c}};
    dnnl_primitive_execute(st->prim, st->stream, 3, args);
    dnnl_stream_wait(st->stream);
}

static void dnnl_free_state(dnnl_state *st) {
    if (!st) return;
    dnnl_memory_destroy(st->a), dnnl_memory_destroy(st->b), dnnl_memory_destroy(st->c);
    dnnl_primitive_destroy(st->prim);
    dnnl_stream_destroy(st->stream);
    dnnl_engine_destroy(st->eng);
    free(st->a16), free(st->b16), free(st);
}
#endif

/* ---- libxsmm: JIT kernels on blocks of C, blocks on OpenMP threads ------- */

#ifdef HAVE_XSMM
/* A block side for a dimension: all of it up to 128, else 64 or 32 when
 * they divide it; 0 when nothing fits. */
static int block_of(int d) {
    if (d <= 128) return d;
    return d % 64 == 0 ? 64 : d % 32 == 0 ? 32 : 0;
}

typedef struct {
    libxsmm_smmfunction kernel;
    int mb, nb; /* block of C: mb rows, nb columns */
} xsmm_state;

/* Row-major C = A B is column-major C^T = B^T A^T: the kernel's m is N,
 * its n is M, its A is our B (leading dimension N) and its B our A (K). */
static xsmm_state *xsmm_prepare(problem *p, const char **why) {
    const shape *s = p->s;
    int mb = block_of(s->M), nb = block_of(s->N);
    if (!mb || !nb) {
        *why = "shape not a multiple of the block";
        return NULL;
    }
    libxsmm_blasint m = nb, n = mb, k = s->K, lda = s->N, ldb = s->K, ldc = s->N;
    float alpha = 1.0f, beta = 0.0f;
    libxsmm_smmfunction f = libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, NULL, NULL);
    if (!f) {
        *why = "no JIT kernel for this block";
        return NULL;
    }
    xsmm_state *st = malloc(sizeof *st);
    *st = (xsmm_state){f, mb, nb};
    return st;
}

static void run_xsmm(problem *p, const xsmm_state *st) {
    const shape *s = p->s;
    int bm = s->M / st->mb, bn = s->N / st->nb;
    size_t sa = (size_t)s->M * s->K, sb = (size_t)s->K * s->N, sc = (size_t)s->M * s->N;
    long nblk = (long)s->count * bm * bn;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < nblk; t++) {
        int i = (int)(t / ((long)bm * bn)), r = (int)(t % ((long)bm * bn));
        int m0 = (r / bn) * st->mb, n0 = (r % bn) * st->nb;
        st->kernel(p->B + i * sb + n0, p->A + i * sa + (size_t)m0 * s->K,
                   p->C + i * sc + (size_t)m0 * s->N + n0);
    }
}
#endif

/* ---- the seam's oneDNN backend, fp32 operands in, as the ops call it ------- */

#ifdef HAVE_DNNL
static void run_seam_dnnl(problem *p, bool bf16) {
    const shape *s = p->s;
    size_t sa = (size_t)s->M * s->K, sb = (size_t)s->K * s->N, sc = (size_t)s->M * s->N;
#pragma omp parallel for schedule(static) if (s->count > 1)
    for (int i = 0; i < s->count; i++)
        pd_gemm_dnnl(bf16, false, false, s->M, s->N, s->K, 1.0f, p->A + i * sa, s->K,
                     p->B + i * sb, s->N, 0.0f, p->C + i * sc, s->N);
}
#endif

/* ---- timing ---------------------------------------------------------------- */

static void run_lib(problem *p, int lib) {
    switch (lib) {
    case LIB_OPENBLAS: run_openblas(p, false); break;
    case LIB_SEAM: run_openblas(p, true); break;
#ifdef HAVE_DNNL
    case LIB_DNNL:
    case LIB_DNNL_BF16: run_dnnl(p->lib[lib]); break;
    case LIB_SEAM_DNNL: run_seam_dnnl(p, false); break;
    case LIB_SEAM_BF16: run_seam_dnnl(p, true); break;
#endif
#ifdef HAVE_XSMM
    case LIB_XSMM: run_xsmm(p, p->lib[lib]); break;
#endif
    default: break;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Largest |C - ref| / max |ref|. */
static double check(const problem *p) {
    size_t n = (size_t)p->s->count * p->s->M * p->s->N;
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (fabs((double)p->C[i] - p->ref[i]) > d) d = fabs((double)p->C[i] - p->ref[i]);
        if (fabs((double)p->ref[i]) > m) m = fabs((double)p->ref[i]);
    }
    return d / m;
}

static void problem_open(problem *p, const shape *s) {
    memset(p, 0, sizeof *p);
    p->s = s;
    size_t na = (size_t)s->count * s->M * s->K, nb = (size_t)s->count * s->K * s->N,
           nc = (size_t)s->count * s->M * s->N;
    p->A = malloc(na * sizeof(float));
    p->B = malloc(nb * sizeof(float));
    p->C = malloc(nc * sizeof(float));
    p->ref = malloc(nc * sizeof(float));
    if (!p->A || !p->B || !p->C || !p->ref) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    unsigned x = 12345;
    for (size_t i = 0; i < na; i++) p->A[i] = (float)((x = x * 1103515245u + 12345u) >> 8) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < nb; i++) p->B[i] = (float)((x = x * 1103515245u + 12345u) >> 8) / 16777216.0f - 0.5f;
    run_openblas(p, false);
    memcpy(p->ref, p->C, nc * sizeof(float));
    p->lib[LIB_OPENBLAS] = p->lib[LIB_SEAM] = p; /* always there */
    if (s->count > 1) {
        p->lib[LIB_SEAM] = NULL;
        p->why[LIB_SEAM] = "= OpenBLAS (heads on threads)";
    }
#ifdef HAVE_DNNL
    p->lib[LIB_DNNL] = dnnl_prepare(p, false, &p->why[LIB_DNNL]);
    if (!dnnl_isa_has_bf16()) {
        static char msg[200];
        snprintf(msg, sizeof msg, "unsupported (ISA %s)", dnnl_isa_name());
        p->why[LIB_DNNL_BF16] = msg;
    } else {
        p->lib[LIB_DNNL_BF16] = dnnl_prepare(p, true, &p->why[LIB_DNNL_BF16]);
    }
    p->lib[LIB_SEAM_DNNL] = p;
    p->lib[LIB_SEAM_BF16] = p->lib[LIB_DNNL_BF16] ? p : NULL;
    p->why[LIB_SEAM_BF16] = p->why[LIB_DNNL_BF16];
#else
    p->why[LIB_DNNL] = p->why[LIB_DNNL_BF16] = "not built (libdnnl-dev missing)";
    p->why[LIB_SEAM_DNNL] = p->why[LIB_SEAM_BF16] = p->why[LIB_DNNL];
#endif
#ifdef HAVE_XSMM
    p->lib[LIB_XSMM] = xsmm_prepare(p, &p->why[LIB_XSMM]);
#else
    p->why[LIB_XSMM] = "not built (libxsmm-dev missing)";
#endif
}

static void problem_close(problem *p) {
#ifdef HAVE_DNNL
    dnnl_free_state(p->lib[LIB_DNNL]);
    dnnl_free_state(p->lib[LIB_DNNL_BF16]);
#endif
#ifdef HAVE_XSMM
    free(p->lib[LIB_XSMM]);
#endif
    free(p->A), free(p->B), free(p->C), free(p->ref);
}

int main(int argc, char **argv) {
    int rounds = 5, reps = 10;
    const char *preset = "all";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[++i];
        else {
            fprintf(stderr, "usage: bench_gemm [--rounds R] [--reps N] [--preset small|b16|all]\n");
            return 2;
        }
    }
    if (rounds < 1 || reps < 1 || rounds > 99) {
        fprintf(stderr, "bench_gemm: --rounds 1..99 and --reps >= 1\n");
        return 2;
    }
#ifdef HAVE_XSMM
    libxsmm_init();
#endif
    printf("threads %d; GFLOP/s, median of %d alternating rounds of %d calls; "
           "worst check = largest max |C - OpenBLAS| / max |C| of the row\n", omp_get_max_threads(), rounds, reps);
#ifdef HAVE_DNNL
    printf("oneDNN %d.%d.%d, effective ISA %s\n", dnnl_version()->major, dnnl_version()->minor,
           dnnl_version()->patch, dnnl_isa_name());
#endif
#ifdef HAVE_XSMM
    printf("libxsmm %s, JIT target %s\n", LIBXSMM_VERSION, libxsmm_get_target_arch());
#endif
    printf("\n| model | product | M x N x K | count |");
    for (int l = 0; l < N_LIBS; l++) printf(" %s |", lib_names[l]);
    printf(" worst check |\n|---|---|---|---:|");
    for (int l = 0; l < N_LIBS; l++) printf("---:|");
    printf("---:|");
    printf("\n");
    for (int si = 0; si < N_SHAPES; si++) {
        const shape *s = &shapes[si];
        if (strcmp(preset, "all") && strcmp(preset, s->model)) continue;
        problem p;
        problem_open(&p, s);
        double flops = 2.0 * s->M * s->N * s->K * s->count;
        double t[N_LIBS][99];
        double err[N_LIBS] = {0};
        for (int l = 0; l < N_LIBS; l++)
            if (p.lib[l]) { /* warm up, and check the result */
                memset(p.C, 0, (size_t)s->count * s->M * s->N * sizeof(float));
                run_lib(&p, l);
                run_lib(&p, l);
                err[l] = check(&p);
            }
        for (int r = 0; r < rounds; r++)
            for (int l = 0; l < N_LIBS; l++) {
                if (!p.lib[l]) continue;
                double t0 = now();
                for (int i = 0; i < reps; i++) run_lib(&p, l);
                t[l][r] = (now() - t0) / reps;
            }
        printf("| %s | %s | %d x %d x %d | %d |", s->model, s->what, s->M, s->N, s->K, s->count);
        double worst = 0;
        for (int l = 0; l < N_LIBS; l++) {
            if (!p.lib[l]) {
                printf(" %s |", p.why[l]);
                continue;
            }
            qsort(t[l], (size_t)rounds, sizeof(double), cmp_double);
            printf(" %.1f |", flops / t[l][rounds / 2] * 1e-9);
            if (err[l] > worst) worst = err[l];
        }
        printf(" %.0e |\n", worst);
        fflush(stdout);
        problem_close(&p);
    }
#ifdef HAVE_DNNL
    /* what oneDNN picked, for the record */
    problem q;
    problem_open(&q, &shapes[0]);
    if (q.lib[LIB_DNNL]) printf("\noneDNN f32 implementation: %s\n", ((dnnl_state *)q.lib[LIB_DNNL])->impl);
    if (q.lib[LIB_DNNL_BF16]) {
        printf("oneDNN bf16 implementation: %s\n", ((dnnl_state *)q.lib[LIB_DNNL_BF16])->impl);
    } else {
        /* asked anyway, only to record what oneDNN answers; never timed */
        const char *why = NULL;
        dnnl_state *st = dnnl_prepare(&q, true, &why);
        printf("oneDNN bf16: %s: bf16 matmul needs avx512_core_bf16 or amx; asked for a bf16 matmul anyway, oneDNN %s%s (not timed)\n",
               q.why[LIB_DNNL_BF16], st ? "created " : "answered: ", st ? st->impl : why);
        dnnl_free_state(st);
    }
    problem_close(&q);
#endif
    return 0;
}
