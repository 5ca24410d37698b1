/* bench_linear: GFLOP/s of linear forward + backward through the op path
 * (pd_linear and pd_backward on a pd_ctx, tape included) next to the same
 * three plain cblas_sgemm calls (forward, dx, dW), at the small JiT shapes.
 *
 * usage: bench_linear [--reps N] [--warmup W] [--threads T] [--rows R] [--pixel]
 *
 * --pixel: the per-pixel layers of the pixel decoders instead (rows 65536 =
 * 64 images of 32x32 pixels), whose weight gradients pd_gemm sums from K
 * chunks on the threads (gemm.c); the raw column is one cblas_sgemm each.
 *
 * Op and raw repetitions alternate so that machine noise hits both alike;
 * each reports the median time per forward + backward. Target: op/raw >=
 * 85%. The op path also pays what the op layer adds around the GEMMs:
 * bias copy and bias gradient, zeroed gradients of x and y from the arena,
 * and one pass of this harness's seed op writing dL/dy. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pixeldit/bench.h"
#include "pixeldit/ops.h"
#include "pixeldit/params.h"
#include "pixeldit/rng.h"
#include "pixeldit/runtime.h"

typedef struct {
    const char *name;
    int in, out;
} shape_case;

/* rows = batch 64 x (64 patch tokens + 8 in-context tokens) of bench-s. */
static const shape_case jit_cases[] = {
    {"192->512", 192, 512},
    {"512->192 (w3)", 512, 192},
    {"192->576 (qkv)", 192, 576},
    {"192->1024 (w12)", 192, 1024},
};

/* rows = 64 images x 32 x 32 pixels (small-pixeldit, small-deco) */
static const shape_case pixel_cases[] = {
    {"1->16 (embed)", 1, 16},
    {"16->64 (fc1)", 16, 64},
    {"64->16 (fc2)", 64, 16},
    {"32->32 (DeCo)", 32, 32},
    {"16->1 (final)", 16, 1},
};

/* ---- seed op: a scalar whose backward writes a fixed dL/dy ------------- */
/* Its value is never read; only the gradient it hands to y matters. */

typedef struct {
    const float *dy; /* (rows, out) */
} seed_attr;

static pd_status seed_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)in, (void)n_in, (void)attr;
    out->data[0] = 0.0f;
    return PD_OK;
}

static pd_status seed_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)out, (void)n_in;
    const seed_attr *a = attr;
    if (in[0]->grad) memcpy(in[0]->grad, a->dy, in[0]->numel * sizeof(float));
    return PD_OK;
}

static const pd_op_def seed_op = {"bench_seed", seed_fwd, seed_bwd};

/* ---- one shape ------------------------------------------------------------ */

typedef struct {
    int rows, in, out;
    float *x, *dy;           /* x (rows, in), dy (rows, out) */
    float *y, *dx, *dw;      /* raw path: y (rows, out), dx (rows, in), dw (out, in) */
    pd_params *params;       /* w (out, in), b (out) */
    pd_tensor *w, *b;
    pd_ctx *ctx;
} bench_case;

static int op_step(bench_case *c) {
    pd_ctx *ctx = c->ctx;
    pd_ctx_reset(ctx);
    /* x (rows, in) -> y (rows, out) -> scalar */
    pd_tensor *x = pd_tensor_from(ctx, c->x, (int[]){c->rows, c->in}, 2);
    if (x) pd_tensor_set_requires_grad(ctx, x);
    pd_tensor *y = pd_linear(ctx, x, c->w, c->b);
    seed_attr sa = {c->dy};
    pd_tensor *loss = y ? pd_op_apply(ctx, &seed_op, &y, 1, NULL, 0, &sa, sizeof sa) : NULL;
    if (!loss || pd_backward(ctx, loss)) {
        fprintf(stderr, "bench_linear: %s\n", pd_ctx_error(ctx));
        return 1;
    }
    return 0;
}

/* The op's three GEMMs with the same operands and transposes; the forward
 * one without the bias (beta 0), dx and dW accumulating (beta 1) as the op. */
static void raw_step(bench_case *c) {
    int nr = c->rows, ni = c->in, no = c->out; /* (cblas.h may define I) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, no, ni, 1.0f, c->x, ni, c->w->data, ni,
                0.0f, c->y, no);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, ni, no, 1.0f, c->dy, no, c->w->data, ni,
                1.0f, c->dx, ni);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, no, ni, nr, 1.0f, c->dy, no, c->x, ni, 1.0f,
                c->dw, ni);
}

static int case_open(bench_case *c, int rows, int in, int out) {
    memset(c, 0, sizeof *c);
    *c = (bench_case){.rows = rows, .in = in, .out = out};
    c->x = malloc((size_t)rows * in * sizeof(float));
    c->dy = malloc((size_t)rows * out * sizeof(float));
    c->y = malloc((size_t)rows * out * sizeof(float));
    c->dx = calloc((size_t)rows * in, sizeof(float));
    c->dw = calloc((size_t)out * in, sizeof(float));
    c->params = pd_params_new();
    c->ctx = pd_ctx_new(0);
    if (!c->x || !c->dy || !c->y || !c->dx || !c->dw || !c->params || !c->ctx) return 1;
    c->w = pd_params_add(c->params, "w", (int[]){out, in}, 2, 0);
    c->b = pd_params_add(c->params, "b", (int[]){out}, 1, 0);
    if (!c->w || !c->b) return 1;
    pd_rng rng;
    pd_rng_seed(&rng, 7);
    pd_rng_fill_uniform(&rng, c->x, (size_t)rows * in, -1, 1);
    pd_rng_fill_uniform(&rng, c->dy, (size_t)rows * out, -1e-3f, 1e-3f);
    pd_rng_fill_uniform(&rng, c->w->data, (size_t)out * in, -0.1f, 0.1f);
    return 0;
}

static void case_close(bench_case *c) {
    free(c->x), free(c->dy), free(c->y), free(c->dx), free(c->dw);
    pd_params_free(c->params);
    pd_ctx_free(c->ctx);
}

/* Same idea as the pixeldit command: Debian's OpenBLAS picks a generic
 * kernel on CPUs it does not know; choose the fast one before it loads. */
static void pick_blas_core(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return;
    const char *want = pd_blas_better_core();
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
    pick_blas_core(argv);
    int reps = 20, warmup = 3, threads = 0, rows = 0;
    const shape_case *cases = jit_cases;
    size_t n_cases = sizeof jit_cases / sizeof jit_cases[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pixel")) {
            cases = pixel_cases, n_cases = sizeof pixel_cases / sizeof pixel_cases[0];
            continue;
        }
        int *dst = !strcmp(argv[i], "--reps") ? &reps : !strcmp(argv[i], "--warmup") ? &warmup
                 : !strcmp(argv[i], "--threads") ? &threads : !strcmp(argv[i], "--rows") ? &rows : NULL;
        if (!dst || i + 1 >= argc || (*dst = atoi(argv[++i])) < 0 || (dst != &warmup && dst != &threads && *dst < 1)) {
            fprintf(stderr, "usage: bench_linear [--reps N>=1] [--warmup W] [--threads T] [--rows R>=1] [--pixel]\n");
            return 2;
        }
    }
    if (!rows) rows = cases == pixel_cases ? 64 * 32 * 32 : 64 * 72;
    pd_set_num_threads(threads);
    const char *env = getenv("OPENBLAS_CORETYPE");
    printf("bench_linear: OpenBLAS core %s (OPENBLAS_CORETYPE=%s), %d threads, rows %d, median of %d "
           "after %d warm-up\n", pd_blas_corename(), env ? env : "unset", pd_get_num_threads(), rows, reps, warmup);
    printf("%-18s %12s %12s %12s %8s\n", "linear in->out", "op GFLOP/s", "raw GFLOP/s", "op ms", "op/raw");
    double *t_op = malloc((size_t)reps * sizeof(double)), *t_raw = malloc((size_t)reps * sizeof(double));
    double sum_flops = 0, sum_op = 0, sum_raw = 0;
    int rc = t_op && t_raw ? 0 : 1;
    for (size_t k = 0; k < n_cases && !rc; k++) {
        bench_case c;
        if (case_open(&c, rows, cases[k].in, cases[k].out)) {
            fprintf(stderr, "bench_linear: out of memory for %s\n", cases[k].name);
            rc = 1;
        }
        for (int i = 0; i < warmup && !rc; i++) {
            rc = op_step(&c);
            raw_step(&c);
        }
        for (int i = 0; i < reps && !rc; i++) {
            double t0 = pd_now_seconds();
            rc = op_step(&c);
            double t1 = pd_now_seconds();
            raw_step(&c);
            t_op[i] = t1 - t0;
            t_raw[i] = pd_now_seconds() - t1;
        }
        if (!rc) {
            double flops = 3 * 2.0 * rows * cases[k].in * cases[k].out; /* fwd, dx, dW */
            double mo = pd_bench_median(t_op, reps), mr = pd_bench_median(t_raw, reps);
            printf("%-18s %12.2f %12.2f %12.3f %7.1f%%\n", cases[k].name, flops / mo * 1e-9,
                   flops / mr * 1e-9, mo * 1e3, 100 * mr / mo);
            sum_flops += flops, sum_op += mo, sum_raw += mr;
        }
        case_close(&c);
    }
    if (!rc)
        printf("%-18s %12.2f %12.2f %12.3f %7.1f%%  (target >= 85%%)\n", "all", sum_flops / sum_op * 1e-9,
               sum_flops / sum_raw * 1e-9, sum_op * 1e3, 100 * sum_raw / sum_op);
    free(t_op), free(t_raw);
    return rc;
}
