/* bench_attention_tile: one thread, C (T, T) += A (T, T) B (T, T) at
 * flash_attn's block sizes, its register tile (flash_gemm_tile) against
 * OpenBLAS's cblas_sgemm, to decide whether the plugin should call sgemm
 * on its tiles (docs/flash_attn.md). Median GFLOP/s of rounds of `reps`
 * calls each, the two alternating.
 *
 * usage: bench_attention_tile [--rounds R] [--reps N] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/bench.h"
#include "pixeldit/rng.h"
#include "pixeldit/runtime.h"

#include "../plugins/flash_attn/flash_kernel.h"

void openblas_set_num_threads(int n);

int main(int argc, char **argv) {
    int rounds = 7, reps = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    }
    if (rounds < 1 || rounds > 100 || reps < 1) {
        fprintf(stderr, "usage: bench_attention_tile [--rounds 1..100] [--reps N]\n");
        return 2;
    }
    openblas_set_num_threads(1);
    static const int sizes[] = {32, 64, 128};
    printf("one thread; median of %d rounds of %d calls; GFLOP/s of C (T, T) += A (T, T) B (T, T)\n\n",
           rounds, reps);
    printf("| T | flash_gemm_tile | cblas_sgemm |\n|---:|---:|---:|\n");
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int T = sizes[s];
        size_t n = (size_t)T * T;
        float *a = malloc(3 * n * sizeof(float));
        if (!a) return 1;
        float *b = a + n, *c = b + n;
        pd_rng rng;
        pd_rng_seed(&rng, 3);
        pd_rng_fill_uniform(&rng, a, 3 * n, -1e-3f, 1e-3f);
        double t[2][100];
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < 2; i++) {
                int k = (r + i) % 2; /* alternate which goes first */
                double t0 = pd_now_seconds();
                for (int x = 0; x < reps; x++) {
                    if (k == 0) flash_gemm_tile(T, T, T, a, T, b, T, c, T, 1);
                    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, T, T, 1.0f, a, T,
                                     b, T, 1.0f, c, T);
                }
                t[k][r] = pd_now_seconds() - t0;
            }
        double flop = 2.0 * T * T * T * reps;
        printf("| %d | %.1f | %.1f |\n", T, flop / pd_bench_median(t[0], rounds) / 1e9,
               flop / pd_bench_median(t[1], rounds) / 1e9);
        free(a);
    }
    return 0;
}
