/* Writes a small `pixeldit forward` input: x (B, C, S, S), t (B), y (B, I64). */
#include <stdio.h>
#include <stdlib.h>

#include "pixeldit/rng.h"
#include "pixeldit/safetensors.h"

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: make_forward_input OUT B C S [Y0]\n");
        return 2;
    }
    int B = atoi(argv[2]), C = atoi(argv[3]), S = atoi(argv[4]);
    float *x = malloc((size_t)B * C * S * S * sizeof(float)), *t = malloc((size_t)B * sizeof(float));
    int64_t *y = malloc((size_t)B * sizeof(int64_t));
    pd_rng r;
    pd_rng_seed(&r, 1);
    pd_rng_fill_normal(&r, x, (size_t)B * C * S * S, 0, 1);
    for (int i = 0; i < B; i++) {
        t[i] = (float)(i + 1) / (float)(B + 1);
        y[i] = i % 10;
    if (argc > 5) y[0] = strtoll(argv[5], NULL, 10); /* optional: y[0], to test refusals */
    }
    pd_st_writer *w = pd_st_writer_new();
    pd_st_writer_add(w, "x", PD_ST_F32, (int[]){B, C, S, S}, 4, x);
    pd_st_writer_add(w, "t", PD_ST_F32, (int[]){B}, 1, t);
    pd_st_writer_add(w, "y", PD_ST_I64, (int[]){B}, 1, y);
    int rc = pd_st_writer_write(w, argv[1]) ? 1 : 0;
    pd_st_writer_free(w);
    free(x);
    free(t);
    free(y);
    return rc;
}
