/* The seam's bf16 products as the ops make them, one shape at a time:
 * pd_gemm_dnnl (fp32 operands in, converted to bf16 every call, fp32 out)
 * against OpenBLAS's sgemm on the same operands, at a linear layer's three
 * products (forward x W^T, input gradient dY W, weight gradient dY^T X),
 * with the conversion's share of each call (the seam's cost counters).
 * Calls of one shape back to back, best of 30 after a warm-up, so the
 * operands are as warm as they get; a training step's products run
 * colder (`pixeldit bench --profile` gives those).
 *     OPENBLAS_CORETYPE=SkylakeX build/bench/bench_seam_bf16 [M N K]... */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gemm.h"
#include "gemm_dnnl.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

enum { REPS = 30 };

/* Best seconds of REPS calls of C (M, N) = op(A) op(B); *convert gets the
 * conversion's seconds of the best call's shape, averaged over the calls. */
static double time_one(bool bf16_seam, bool ta, bool tb, int M, int N, int K, const float *A,
                       const float *B, float *C, double *convert) {
    int lda = ta ? M : K, ldb = tb ? K : N;
    double best = 1e30;
    pd_gemm_costs_start();
    for (int r = 0; r <= REPS; r++) { /* call 0 warms up (primitive, buffers) */
        double t0 = now();
        if (bf16_seam) {
            if (pd_gemm_dnnl(true, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N) != PD_OK) {
                fprintf(stderr, "bench_seam_bf16: %s\n", pd_last_error());
                exit(1);
            }
        } else {
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                        K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
        }
        double t = now() - t0;
        if (r && t < best) best = t;
    }
    pd_gemm_costs c;
    pd_gemm_costs_stop(&c);
    *convert = c.seconds[PD_GEMM_CONVERT] / (REPS + 1);
    return best;
}

int main(int argc, char **argv) {
    /* bench-s's and JiT-B/16's largest linear layers by default */
    int def[][3] = {{4608, 1024, 192}, {4608, 192, 192}, {1152, 2304, 768}, {1152, 4096, 768}};
    int n = argc > 1 ? (argc - 1) / 3 : 4;
    const char *problem = pd_gemm_dnnl_problem(true);
    if (problem) {
        fprintf(stderr, "bench_seam_bf16: no bf16 products here: %s\n", problem);
        return 1;
    }
    printf("| layer (rows x out x in) | product | op(A) M x K, op(B) K x N | OpenBLAS sgemm GFLOP/s | seam bf16 GFLOP/s | bf16 / sgemm | conversion share of the bf16 call |\n");
    printf("|---|---|---|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        int rows = argc > 1 ? atoi(argv[1 + 3 * i]) : def[i][0], outs = argc > 1 ? atoi(argv[2 + 3 * i]) : def[i][1];
        int ins = argc > 1 ? atoi(argv[3 + 3 * i]) : def[i][2];
        /* x (rows, ins), W (outs, ins), dY (rows, outs) */
        float *x = malloc((size_t)rows * ins * 4), *w = malloc((size_t)outs * ins * 4), *dy = malloc((size_t)rows * outs * 4);
        float *c = malloc((size_t)rows * (outs > ins ? outs : ins) * 4 + (size_t)outs * ins * 4);
        if (!x || !w || !dy || !c) return 1;
        for (size_t j = 0; j < (size_t)rows * ins; j++) x[j] = (float)(j % 17) * 0.01f - 0.08f;
        for (size_t j = 0; j < (size_t)outs * ins; j++) w[j] = (float)(j % 13) * 0.01f - 0.06f;
        for (size_t j = 0; j < (size_t)rows * outs; j++) dy[j] = (float)(j % 11) * 0.01f - 0.05f;
        struct { const char *what; bool ta, tb; int M, N, K; const float *A, *B; } p[3] = {
            {"forward x W^T", false, true, rows, outs, ins, x, w},
            {"input grad dY W", false, false, rows, ins, outs, dy, w},
            {"weight grad dY^T x", true, false, outs, ins, rows, dy, x},
        };
        for (int k = 0; k < 3; k++) {
            double conv_s, conv_b;
            double ts = time_one(false, p[k].ta, p[k].tb, p[k].M, p[k].N, p[k].K, p[k].A, p[k].B, c, &conv_s);
            double tb = time_one(true, p[k].ta, p[k].tb, p[k].M, p[k].N, p[k].K, p[k].A, p[k].B, c, &conv_b);
            double fl = 2.0 * p[k].M * p[k].N * p[k].K;
            printf("| %d x %d x %d | %s | %d x %d, %d x %d | %.0f | %.0f | %.2fx | %.0f%% |\n", rows, outs, ins, p[k].what,
                   p[k].M, p[k].K, p[k].K, p[k].N, fl / ts * 1e-9, fl / tb * 1e-9, ts / tb, 100 * conv_b / tb);
        }
        free(x), free(w), free(dy), free(c);
    }
    return 0;
}
