/* Gaussian statistics of feature sets and the Frechet distance between
 * them, in double, with symmetric eigen-decompositions from LAPACK (dsyev,
 * shipped inside OpenBLAS). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "pixeldit/eval.h"

/* LAPACK (Fortran) symmetric eigen-solver; the trailing size_t are the
 * hidden lengths of the two character arguments gfortran passes. */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info, size_t jobz_len,
                   size_t uplo_len);

pd_status pd_gauss_stats_compute(const float *feats, long n, int d, pd_gauss_stats *out) {
    memset(out, 0, sizeof *out);
    if (n < 2 || d < 1) return pd_fail(PD_ERR_ARG, "feature statistics need at least 2 rows, got %ld", n);
    out->d = d;
    out->n = n;
    out->mu = calloc((size_t)d, sizeof(double));
    out->sigma = calloc((size_t)d * d, sizeof(double));
    double *xc = malloc((size_t)n * d * sizeof(double)); /* (n, d) centred rows */
    if (!out->mu || !out->sigma || !xc) {
        free(xc);
        pd_gauss_stats_free(out);
        return pd_fail(PD_ERR_NOMEM, "feature statistics: out of memory for %ld x %d", n, d);
    }
    for (long i = 0; i < n; i++)
        for (int j = 0; j < d; j++) out->mu[j] += feats[(size_t)i * d + j];
    for (int j = 0; j < d; j++) out->mu[j] /= (double)n;
    for (long i = 0; i < n; i++)
        for (int j = 0; j < d; j++) xc[(size_t)i * d + j] = feats[(size_t)i * d + j] - out->mu[j];
    /* sigma = xc^T xc / (n - 1) */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int)n, 1.0 / (double)(n - 1), xc, d, 0.0,
                out->sigma, d);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < i; j++) out->sigma[(size_t)i * d + j] = out->sigma[(size_t)j * d + i];
    free(xc);
    return PD_OK;
}

void pd_gauss_stats_free(pd_gauss_stats *s) {
    free(s->mu);
    free(s->sigma);
    s->mu = s->sigma = NULL;
}

/* Eigen-decomposition of the symmetric a (d, d), overwritten by the
 * eigenvectors (as columns in Fortran order = rows here), w (d) ascending. */
static pd_status sym_eig(double *a, int d, double *w) {
    int lwork = -1, info = 0;
    double q;
    dsyev_("V", "U", &d, a, &d, w, &q, &lwork, &info, 1, 1);
    if (info) return pd_fail(PD_ERR_NUMERIC, "dsyev workspace query failed (info %d)", info);
    lwork = (int)q;
    double *work = malloc((size_t)lwork * sizeof(double));
    if (!work) return pd_fail(PD_ERR_NOMEM, "dsyev: out of memory");
    dsyev_("V", "U", &d, a, &d, w, work, &lwork, &info, 1, 1);
    free(work);
    if (info) return pd_fail(PD_ERR_NUMERIC, "dsyev did not converge (info %d)", info);
    return PD_OK;
}

pd_status pd_frechet_distance(const pd_gauss_stats *a, const pd_gauss_stats *b, double *out) {
    if (!a->mu || !b->mu || a->d != b->d) return pd_fail(PD_ERR_ARG, "frechet distance: statistics of "
                                                         "different dimension (%d, %d)", a->d, b->d);
    int d = a->d;
    size_t dd = (size_t)d * d;
    double *v = malloc(dd * sizeof(double)), *half = calloc(dd, sizeof(double));
    double *tmp = malloc(dd * sizeof(double)), *m = malloc(dd * sizeof(double));
    double *w = malloc((size_t)d * sizeof(double));
    pd_status st = (v && half && tmp && m && w) ? PD_OK : pd_fail(PD_ERR_NOMEM, "frechet distance: out of memory");
    double tr_sqrt = 0;
    if (!st) {
        /* S1 = V diag(w) V^T; S1^1/2 = V diag(sqrt w+) V^T. The matrix is
         * symmetric, so row/column order does not matter to dsyev; its
         * eigenvectors come out as rows of v in our row-major view. */
        memcpy(v, a->sigma, dd * sizeof(double));
        st = sym_eig(v, d, w);
    }
    if (!st) {
        for (int k = 0; k < d; k++) {
            double s = w[k] > 0 ? sqrt(w[k]) : 0;
            const double *e = v + (size_t)k * d;
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) half[(size_t)i * d + j] += s * e[i] * e[j];
        }
        /* M = S1^1/2 S2 S1^1/2, symmetric PSD: tr sqrt(M) = sum sqrt(eig M) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, half, d, b->sigma, d, 0.0, tmp, d);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, tmp, d, half, d, 0.0, m, d);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < i; j++) {
                double s = 0.5 * (m[(size_t)i * d + j] + m[(size_t)j * d + i]);
                m[(size_t)i * d + j] = m[(size_t)j * d + i] = s;
            }
        st = sym_eig(m, d, w);
        for (int k = 0; !st && k < d; k++) tr_sqrt += w[k] > 0 ? sqrt(w[k]) : 0;
    }
    if (!st) {
        double diff = 0, tr = 0;
        for (int i = 0; i < d; i++) {
            double e = a->mu[i] - b->mu[i];
            diff += e * e;
            tr += a->sigma[(size_t)i * d + i] + b->sigma[(size_t)i * d + i];
        }
        double fd = diff + tr - 2 * tr_sqrt;
        if (!isfinite(fd)) st = pd_fail(PD_ERR_NUMERIC, "frechet distance is not finite");
        *out = fd > 0 ? fd : 0; /* rounding can leave -1e-12 for identical sets */
    }
    free(v), free(half), free(tmp), free(m), free(w);
    return st;
}

double pd_class_accuracy(const float *logits, const int *labels, int n, int k) {
    if (n <= 0) return 0;
    int correct = 0;
    for (int i = 0; i < n; i++) {
        const float *row = logits + (size_t)i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (row[j] > row[best]) best = j;
        correct += best == labels[i];
    }
    return (double)correct / n;
}
