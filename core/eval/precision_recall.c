/* Improved precision and recall (Kynkaenniemi et al. 2019) on any feature
 * space. Each set's manifold is the union of balls around its points whose
 * radius is the distance to the point's k-th nearest neighbour within the
 * set (the point itself excluded). Then
 *   precision = fraction of generated points inside the real manifold,
 *   recall    = fraction of real points inside the generated manifold.
 * Squared distances in double; ties count as inside. docs/eval.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "eval_internal.h"

/* Squared distances (na, nb) between the rows of a (na, d) and b (nb, d). */
static pd_status sq_dists(const float *a, long na, const float *b, long nb, int d, double **out) {
    double *ad = malloc((size_t)na * d * sizeof(double)), *bd = malloc((size_t)nb * d * sizeof(double));
    double *na2 = malloc((size_t)na * sizeof(double)), *nb2 = malloc((size_t)nb * sizeof(double));
    double *D = malloc((size_t)na * nb * sizeof(double));
    if (!ad || !bd || !na2 || !nb2 || !D) {
        free(ad), free(bd), free(na2), free(nb2), free(D);
        return pd_fail(PD_ERR_NOMEM, "precision/recall: out of memory for %ld x %ld distances", na, nb);
    }
    for (size_t i = 0; i < (size_t)na * d; i++) ad[i] = a[i];
    for (size_t i = 0; i < (size_t)nb * d; i++) bd[i] = b[i];
    for (long i = 0; i < na; i++) na2[i] = cblas_ddot(d, ad + (size_t)i * d, 1, ad + (size_t)i * d, 1);
    for (long j = 0; j < nb; j++) nb2[j] = cblas_ddot(d, bd + (size_t)j * d, 1, bd + (size_t)j * d, 1);
    /* D = -2 a b^T + |a|^2 + |b|^2, clamped at 0 against cancellation */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)na, (int)nb, d, -2.0, ad, d, bd, d, 0.0, D, (int)nb);
    for (long i = 0; i < na; i++)
        for (long j = 0; j < nb; j++) {
            double v = D[(size_t)i * nb + j] + na2[i] + nb2[j];
            D[(size_t)i * nb + j] = v > 0 ? v : 0;
        }
    free(ad), free(bd), free(na2), free(nb2);
    *out = D;
    return PD_OK;
}

/* The k-th smallest of v[0..n) other than v[self] (insertion into a
 * sorted buffer of k; k is small). */
static double kth_smallest(const double *v, long n, long self, int k) {
    double best[64];
    int have = 0;
    for (long j = 0; j < n; j++) {
        if (j == self) continue;
        double x = v[j];
        if (have == k && x >= best[k - 1]) continue;
        int p = have < k ? have++ : k - 1;
        while (p > 0 && best[p - 1] > x) best[p] = best[p - 1], p--;
        best[p] = x;
    }
    return best[k - 1];
}

/* Squared k-NN radius of every row of f (n, d) within f. */
static pd_status radii(const float *f, long n, int d, int k, double *r) {
    double *D;
    pd_status st = sq_dists(f, n, f, n, d, &D);
    if (st) return st;
    for (long i = 0; i < n; i++) r[i] = kth_smallest(D + (size_t)i * n, n, i, k);
    free(D);
    return PD_OK;
}

/* Fraction of rows of q inside the manifold of p (radii rp). */
static pd_status coverage(const float *q, long nq, const float *p, long np, const double *rp, int d,
                          double *out) {
    double *D;
    pd_status st = sq_dists(q, nq, p, np, d, &D);
    if (st) return st;
    long inside = 0;
    for (long i = 0; i < nq; i++) {
        const double *row = D + (size_t)i * np;
        for (long j = 0; j < np; j++)
            if (row[j] <= rp[j]) {
                inside++;
                break;
            }
    }
    free(D);
    *out = (double)inside / (double)nq;
    return PD_OK;
}

pd_status pd_precision_recall(const float *real, long nr, const float *fake, long nf, int d, int k,
                              double *precision, double *recall) {
    if (k < 1 || k > 64 || nr <= k || nf <= k)
        return pd_fail(PD_ERR_ARG, "precision/recall: needs 1 <= k <= 64 and more than k rows per set "
                       "(k %d, %ld real, %ld generated)", k, nr, nf);
    double *rr = malloc((size_t)nr * sizeof(double)), *rf = malloc((size_t)nf * sizeof(double));
    pd_status st = (rr && rf) ? PD_OK : pd_fail(PD_ERR_NOMEM, "precision/recall: out of memory");
    if (!st) st = radii(real, nr, d, k, rr);
    if (!st) st = radii(fake, nf, d, k, rf);
    if (!st) st = coverage(fake, nf, real, nr, rr, d, precision);
    if (!st) st = coverage(real, nr, fake, nf, rf, d, recall);
    free(rr), free(rf);
    return st;
}
