/* Small helpers shared by the cmocka tests. */
#ifndef PD_TEST_UTIL_H
#define PD_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "pixeldit/pixeldit.h"

/* Fills buf with uniform values in [-1, 1) from a fixed seed. */
static inline void tu_fill(float *buf, size_t n, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    pd_rng_fill_uniform(&r, buf, n, -1.0f, 1.0f);
}

/* Runs a gradcheck and fails the test with the checker's message. */
#define TU_GRADCHECK(fn, user, inputs, n, opts)                                   \
    do {                                                                          \
        double worst_ = 0;                                                        \
        pd_status s_ = pd_gradcheck((fn), (user), (inputs), (n), (opts), &worst_); \
        if (s_ != PD_OK) fail_msg("%s", pd_last_error());                         \
        print_message("  %-32s worst err/tol %.3f\n", #fn, worst_);               \
    } while (0)

/* Asserts that s contains sub, printing both otherwise. */
#define TU_ASSERT_CONTAINS(s, sub)                                                \
    do {                                                                          \
        if (!strstr((s), (sub))) fail_msg("expected '%s' in: %s", (sub), (s));    \
    } while (0)

/* A gradcheck case: up to GC_MAX inputs with their shapes, filled at random. */
#define GC_MAX 10
typedef struct {
    int shapes[GC_MAX][PD_MAX_DIMS];
    int ndims[GC_MAX];
    int n;
    float *bufs[GC_MAX];
    pd_gradcheck_input in[GC_MAX];
} gc_case;

static inline void case_init(gc_case *c, uint64_t seed) {
    for (int i = 0; i < c->n; i++) {
        size_t n = pd_shape_numel(c->shapes[i], c->ndims[i]);
        c->bufs[i] = malloc(n * sizeof(float));
        assert_non_null(c->bufs[i]);
        tu_fill(c->bufs[i], n, seed + (uint64_t)i);
        c->in[i] = (pd_gradcheck_input){c->bufs[i], c->shapes[i], c->ndims[i], true};
    }
}

static inline void case_free(gc_case *c) {
    for (int i = 0; i < c->n; i++) free(c->bufs[i]);
}

#define SHAPE(...) {__VA_ARGS__}

/* max |got - want| / max |want| over n values (1 when want is all zero);
 * fails the test above tol (NaN fails too). Returns the error for reports. */
static inline double expect_close(const char *what, const float *got, const float *want, size_t n,
                                  double tol) {
    double err = 0, scale = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= err)) err = d, worst = i;
        if (fabs((double)want[i]) > scale) scale = fabs((double)want[i]);
    }
    double rel = err / (scale > 0 ? scale : 1.0);
    if (!(rel <= tol))
        fail_msg("%s: max |c - t| / max |t| = %.3g > %.1g (element %zu: c %.9g, t %.9g, max |t| %.4g)",
                 what, rel, tol, worst, (double)got[worst], (double)want[worst], scale);
    return rel;
}

#endif
