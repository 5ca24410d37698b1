/* Kernel Inception Distance on any feature space (Binkowski et al. 2018):
 * the unbiased estimate of the squared MMD between two feature sets under
 * the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3, in double.
 *
 *   KID = S_xx / (n (n - 1)) + S_yy / (m (m - 1)) - 2 S_xy / (n m)
 *
 * where S_xx = sum over i != j of k(x_i, x_j) (the diagonal left out is
 * what makes the estimate unbiased at small n), likewise S_yy, and S_xy the
 * sum over all pairs. The reference's S_yy is computed once (pd_kid_self_sum)
 * and reused for every set of samples. Formulas: docs/eval.md. */
#include <stdlib.h>

#include <cblas.h>

#include "eval_internal.h"

enum { KID_BLOCK = 512 }; /* rows of a per rows of b per GEMM: 512 x 10000 doubles = 40 MB */

static inline double cubic(double dot, int d) {
    double u = dot / d + 1.0;
    return u * u * u;
}

/* Widens rows [i0, i0 + rows) of f (n, d) to double. */
static void widen(const float *f, long i0, long rows, int d, double *out) {
    for (size_t i = 0; i < (size_t)rows * d; i++) out[i] = f[(size_t)i0 * d + i];
}

/* Sum of k(a_i, b_j) over all i < na, j < nb; with same (a == b, na == nb)
 * the diagonal i == j is left out. */
static pd_status kernel_sum(const float *a, long na, const float *b, long nb, int d, bool same,
                            double *out) {
    double *ab = malloc((size_t)KID_BLOCK * d * sizeof(double));
    double *bb = malloc((size_t)nb * d * sizeof(double));
    double *dots = malloc((size_t)KID_BLOCK * nb * sizeof(double)); /* (rows, nb) */
    if (!ab || !bb || !dots) {
        free(ab), free(bb), free(dots);
        return pd_fail(PD_ERR_NOMEM, "KID: out of memory for %ld x %ld kernel rows", na, nb);
    }
    widen(b, 0, nb, d, bb);
    double sum = 0;
    for (long i0 = 0; i0 < na; i0 += KID_BLOCK) {
        long rows = na - i0 < KID_BLOCK ? na - i0 : KID_BLOCK;
        widen(a, i0, rows, d, ab);
        /* dots (rows, nb) = ab (rows, d) bb^T */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)nb, d, 1.0, ab, d, bb, d,
                    0.0, dots, (int)nb);
        for (long i = 0; i < rows; i++) {
            double row = 0;
            for (long j = 0; j < nb; j++)
                if (!same || j != i0 + i) row += cubic(dots[(size_t)i * nb + j], d);
            sum += row;
        }
    }
    free(ab), free(bb), free(dots);
    *out = sum;
    return PD_OK;
}

pd_status pd_kid_self_sum(const float *y, long m, int d, double *out) {
    if (m < 2) return pd_fail(PD_ERR_ARG, "KID: needs at least 2 reference rows, got %ld", m);
    return kernel_sum(y, m, y, m, d, true, out);
}

pd_status pd_kid_with_ref(const float *x, long n, const float *y, long m, int d, double yy_sum,
                          double *out) {
    if (n < 2 || m < 2) return pd_fail(PD_ERR_ARG, "KID: needs at least 2 rows per set, got %ld and %ld", n, m);
    double xx = 0, xy = 0;
    pd_status st = kernel_sum(x, n, x, n, d, true, &xx);
    if (!st) st = kernel_sum(x, n, y, m, d, false, &xy);
    if (st) return st;
    *out = xx / ((double)n * (n - 1)) + yy_sum / ((double)m * (m - 1)) - 2 * xy / ((double)n * m);
    return PD_OK;
}

pd_status pd_kid(const float *x, long n, const float *y, long m, int d, double *out) {
    double yy;
    pd_status st = pd_kid_self_sum(y, m, d, &yy);
    return st ? st : pd_kid_with_ref(x, n, y, m, d, yy, out);
}
