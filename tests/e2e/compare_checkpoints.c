/* compare_checkpoints A B TOL: every F32 tensor of A (weights, EMAs, AdamW
 * moments) is in B with the same shape and max|a - b| <= TOL * max(max|a|,
 * 1e-6); metadata "step" equal. Prints the worst tensor; exit 0 when all
 * match, 1 otherwise, 2 on bad input. Used by tests/e2e/mpi.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/safetensors.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: compare_checkpoints A.safetensors B.safetensors TOL\n");
        return 2;
    }
    double tol = atof(argv[3]);
    pd_st_file *a, *b;
    if (pd_st_open(argv[1], &a) || pd_st_open(argv[2], &b)) {
        fprintf(stderr, "compare_checkpoints: %s\n", pd_last_error());
        return 2;
    }
    const char *sa = pd_st_metadata(a, "step"), *sb = pd_st_metadata(b, "step");
    int bad = !sa || !sb || strcmp(sa, sb);
    if (bad) printf("step differs: %s vs %s\n", sa ? sa : "?", sb ? sb : "?");
    double worst = 0;
    const char *worst_name = "";
    int n = 0;
    for (int i = 0; i < pd_st_count(a); i++) {
        const pd_st_tensor *ta = pd_st_at(a, i), *tb = pd_st_find(b, ta->name);
        if (ta->dtype != PD_ST_F32) continue;
        if (!tb || tb->dtype != PD_ST_F32 || tb->numel != ta->numel) {
            printf("%s: missing or of another shape in %s\n", ta->name, argv[2]);
            bad = 1;
            continue;
        }
        const float *x = ta->data, *y = tb->data;
        double diff = 0, scale = 1e-6;
        for (size_t j = 0; j < ta->numel; j++) {
            double d = fabs((double)x[j] - y[j]);
            if (!(d <= diff)) diff = d; /* NaN counts as worst */
            if (fabs(x[j]) > scale) scale = fabs(x[j]);
        }
        double rel = diff / scale;
        if (!(rel <= worst)) worst = rel, worst_name = ta->name;
        if (!(rel <= tol)) bad = 1;
        n++;
    }
    printf("%d tensors, worst relative difference %.3g (%s), tolerance %.3g\n", n, worst, worst_name, tol);
    pd_st_close(a);
    pd_st_close(b);
    return bad || n == 0;
}
