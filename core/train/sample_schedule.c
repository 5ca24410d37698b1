/* Time grids of the samplers: t_0 = 0 (noise) < ... < t_steps = 1 (image).
 * docs/sampling.md compares them. */
#include <math.h>

#include "pixeldit/train.h"

/* The logsnr grid spans lambda = log(t / (1 - t)) in [-L, L], L = log(5 steps):
 * ends that move towards 0 and 1 as steps grow (a fixed range would leave a
 * first-order jump into t = 1 of fixed size, and no convergence), t in
 * [0.02, 0.98] at 10 steps. */
#define LOGSNR_RANGE_PER_STEP 5.0

/* Inverse of the standard normal CDF: Acklam's rational approximation
 * (relative error 1.2e-9), then one Halley step on erfc. 0 < p < 1. */
static double normal_quantile(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double x;
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - 0.02425) {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        double q = sqrt(-2 * log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

static double sigmoid(double l) { return 1.0 / (1.0 + exp(-l)); }

pd_status pd_sample_time_grid(const pd_sample_config *cfg, float *t) {
    int n = cfg->steps;
    if (n < 1) return pd_fail(PD_ERR_ARG, "sample: steps must be >= 1, got %d", n);
    pd_sample_schedule s = pd_schedule_resolve(cfg->schedule, cfg->sampler);
    switch (s) {
    case PD_SCHEDULE_UNIFORM:
        for (int i = 0; i <= n; i++) t[i] = pd_linspace01(i, n + 1);
        return PD_OK;
    case PD_SCHEDULE_LOGIT_NORMAL:
        /* the i/n quantiles of t = sigmoid(P_mean + P_std N(0, 1)), JiT's training t */
        if (!(cfg->P_std > 0))
            return pd_fail(PD_ERR_ARG, "sample: the logit-normal schedule needs P_std > 0, got %g",
                           (double)cfg->P_std);
        for (int i = 1; i < n; i++)
            t[i] = (float)sigmoid(cfg->P_mean + cfg->P_std * normal_quantile((double)i / n));
        break;
    case PD_SCHEDULE_LOGSNR: {
        double L = log(LOGSNR_RANGE_PER_STEP * n);
        for (int i = 1; i < n; i++) t[i] = (float)sigmoid(L * (2.0 * i / n - 1));
        break;
    }
    default: return pd_fail(PD_ERR_ARG, "sample: unknown schedule %d", (int)cfg->schedule);
    }
    t[0] = 0.0f;
    t[n] = 1.0f;
    for (int i = 0; i < n; i++)
        if (!(t[i] < t[i + 1]))
            return pd_fail(PD_ERR_ARG, "sample: %d steps of the %s schedule give equal times in float32 "
                           "(t[%d] = t[%d] = %g); use fewer steps", n, pd_schedule_name(s), i, i + 1, (double)t[i]);
    return PD_OK;
}
