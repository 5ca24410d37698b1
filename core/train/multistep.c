/* Multistep solvers of JiT's flow ODE in data-prediction form.
 *
 * z_t = t x + (1 - t) e: alpha_t = t, sigma_t = 1 - t, lambda_t = log(t / (1 - t)).
 * The exact solution from s to t is
 *   z_t = (sigma_t / sigma_s) z_s + sigma_t int_{lambda_s}^{lambda_t} e^lambda x_hat dlambda,
 * and both solvers expand x_hat in lambda (Lu et al. 2022, DPM-Solver++;
 * Zhao et al. 2023, UniPC). Their first-order step is
 *   z_t = a z_s + b x_hat_s,  a = (1 - t) / (1 - s),  b = (t - s) / (1 - s),
 * which is Euler on the velocity without the t_eps clamp. lambda is -inf at
 * t = 0 and +inf at t = 1, so a step from t = 0, and the step into t = 1,
 * are first order (lower_order_final), and a step whose history point is
 * t = 0 has no usable history. Equations: docs/sampling.md. */
#include <math.h>
#include <stdlib.h>

#include "sampler_internal.h"

static double lambda_of(double t) { return log(t) - log1p(-t); }

pd_status pd_sample_dpmpp_2m(pd_guide *g, const float *grid, int steps, float *z,
                             pd_sample_progress_fn progress, void *user) {
    size_t m = (size_t)g->B * g->net->per;
    float *x0 = malloc(m * sizeof(float)), *x_prev = malloc(m * sizeof(float));
    pd_status st = x0 && x_prev ? PD_OK : pd_fail(PD_ERR_NOMEM, "sample: out of memory");
    bool have_prev = false;
    for (int i = 0; i < steps && !st; i++) {
        double s = grid[i], t = grid[i + 1];
        if ((st = pd_guide_denoise(g, z, (float)s, x0))) break;
        float a = (float)((1 - t) / (1 - s)), b = (float)((t - s) / (1 - s));
        if (have_prev && t < 1) {
            /* D = (1 + 1 / (2r)) x_s - 1 / (2r) x_prev, r = h_prev / h */
            double h = lambda_of(t) - lambda_of(s), h_prev = lambda_of(s) - lambda_of(grid[i - 1]);
            float c = (float)(h / (2 * h_prev));
            for (size_t k = 0; k < m; k++) z[k] = a * z[k] + b * (x0[k] + c * (x0[k] - x_prev[k]));
        } else {
            for (size_t k = 0; k < m; k++) z[k] = a * z[k] + b * x0[k];
        }
        float *tmp = x_prev;
        x_prev = x0;
        x0 = tmp;
        have_prev = s > 0;
        if (progress) progress(i + 1, steps, user);
    }
    free(x0);
    free(x_prev);
    return st;
}

/* UniPC with B(h) = e^h - 1 (bh2), predictor UniP-2 and corrector UniC, in
 * data prediction: the corrector reuses the evaluation at the predicted z_t,
 * which is also the next step's x_hat_s, so one evaluation per step. */
pd_status pd_sample_unipc(pd_guide *g, const float *grid, int steps, float *z,
                          pd_sample_progress_fn progress, void *user) {
    size_t m = (size_t)g->B * g->net->per;
    float *x0 = malloc(m * sizeof(float)), *x_prev = malloc(m * sizeof(float));
    float *x_t = malloc(m * sizeof(float)), *z_first = malloc(m * sizeof(float));
    pd_status st = x0 && x_prev && x_t && z_first ? PD_OK : pd_fail(PD_ERR_NOMEM, "sample: out of memory");
    if (!st) st = pd_guide_denoise(g, z, grid[0], x0);
    bool have_prev = false;
    for (int i = 0; i < steps && !st; i++) {
        double s = grid[i], t = grid[i + 1];
        bool final = t >= 1, second = have_prev && !final;
        float a = (float)((1 - t) / (1 - s)), b = (float)((t - s) / (1 - s));
        /* b = -alpha_t (e^-h - 1) = -alpha_t B(h): the weight of every correction term */
        double r1 = 0;
        if (second) {
            double ls = lambda_of(s), h = lambda_of(t) - ls;
            r1 = (lambda_of(grid[i - 1]) - ls) / h; /* < 0 */
        }
        /* z_first = first-order step; UniP-2 adds b * 0.5 * D1, D1 = (x_prev - x0) / r1
         * (x_prev is not read without history: it is unset at first) */
        for (size_t k = 0; k < m; k++) z[k] = z_first[k] = a * z[k] + b * x0[k];
        if (second) {
            float half_over_r1 = (float)(0.5 / r1);
            for (size_t k = 0; k < m; k++) z[k] = z_first[k] + b * (half_over_r1 * (x_prev[k] - x0[k]));
        }
        /* the last step (into t = 1, or the grid's end) is not corrected: that would
         * take an evaluation at its end */
        if (i < steps - 1) {
            if ((st = pd_guide_denoise(g, z, (float)t, x_t))) break;
            if (!second) {
                /* UniC-1: rho = 1/2 */
                for (size_t k = 0; k < m; k++) z[k] = z_first[k] + b * (0.5f * (x_t[k] - x0[k]));
            } else {
                /* UniC-2: [1 1; r1 1] rho = (b_1, b_2), b_k from phi functions of hh = -h */
                double h = lambda_of(t) - lambda_of(s), hh = -h, B_h = expm1(hh);
                double phi = expm1(hh) / hh - 1, b1 = phi / B_h;
                phi = phi / hh - 0.5;
                double b2 = phi * 2 / B_h;
                double rho0 = (b1 - b2) / (1 - r1), rho1 = b1 - rho0;
                float c0 = (float)(rho0 / r1), c1 = (float)rho1;
                for (size_t k = 0; k < m; k++)
                    z[k] = z_first[k] + b * (c0 * (x_prev[k] - x0[k]) + c1 * (x_t[k] - x0[k]));
            }
            float *tmp = x_prev;
            x_prev = x0;
            x0 = x_t;
            x_t = tmp;
            have_prev = s > 0;
        }
        if (progress) progress(i + 1, steps, user);
    }
    free(x0);
    free(x_prev);
    free(x_t);
    free(z_first);
    return st;
}
