/* Row statistics accumulated in double (four independent accumulators
 * vectorise and cut the dependency chain), shared by the norm kernels. */
#ifndef PD_ROW_STATS_H
#define PD_ROW_STATS_H

/* sum(x^2) over n floats; four independent accumulators vectorise and cut
 * the dependency chain. */
static inline double row_sumsq(const float *restrict x, int n) {
    double acc[4] = {0, 0, 0, 0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) acc[k] += (double)x[i + k] * (double)x[i + k];
    for (; i < n; i++) acc[0] += (double)x[i] * (double)x[i];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

static inline double row_sum(const float *restrict x, int n) {
    double acc[4] = {0, 0, 0, 0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) acc[k] += (double)x[i + k];
    for (; i < n; i++) acc[0] += (double)x[i];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* sum((x - m)^2): the two-pass variance, exact for rows with a large mean. */
static inline double row_sqdev(const float *restrict x, int n, double m) {
    double acc[4] = {0, 0, 0, 0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) {
            double d = (double)x[i + k] - m;
            acc[k] += d * d;
        }
    for (; i < n; i++) acc[0] += ((double)x[i] - m) * ((double)x[i] - m);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

#endif
