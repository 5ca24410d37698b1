/* Curves at a step and paired seed-by-seed comparisons (study.h). */
#include <math.h>
#include <string.h>

#include "study.h"

double study_at(const study_run *r, study_metric m, double s) {
    if (r->n_points == 0 || s < r->step[0] || s > r->step[r->n_points - 1]) return NAN;
    for (int p = 0; p < r->n_points; p++) {
        if (r->step[p] == s) return r->v[m][p];
        if (r->step[p] > s) {
            double a = r->step[p - 1], b = r->step[p], w = (s - a) / (b - a);
            return (1 - w) * r->v[m][p - 1] + w * r->v[m][p];
        }
    }
    return NAN;
}

const char *study_suffix(const study *s, int c) {
    const char *n = s->configs[c].name, *b = s->configs[0].name;
    size_t bl = strlen(b);
    if (c == 0) return "";
    return strncmp(n, b, bl) == 0 && n[bl] == '-' ? n + bl + 1 : n;
}

bool study_run_past(const study_run *r, double S) {
    return r->n_points > 0 && r->step[r->n_points - 1] > S * 1.0005;
}

double study_common_steps(const study *s) {
    double common = INFINITY;
    for (int i = 0; i < s->n_configs; i++)
        for (int k = 0; k < s->configs[i].n_runs; k++) {
            const study_run *r = &s->configs[i].runs[k];
            if (r->step[r->n_points - 1] < common) common = r->step[r->n_points - 1];
        }
    return isfinite(common) ? common : 0;
}

double study_t975(int df) {
    static const double t[] = {0,      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201,  2.179,  2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                               2.080,  2.074,  2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    if (df < 1) return NAN;
    return df <= 30 ? t[df] : 1.96 + 2.4 / df; /* within 0.002 of the quantile past 30 */
}

study_pair study_compare(const study *s, int c, study_metric m, double s_c, double s_0) {
    study_pair p = {0};
    const study_config *cc = &s->configs[c], *b = &s->configs[0];
    double v[STUDY_MAX_SEEDS], d[STUDY_MAX_SEEDS], bv[STUDY_MAX_SEEDS];
    for (int i = 0; i < cc->n_runs; i++)
        for (int j = 0; j < b->n_runs; j++) {
            if (cc->runs[i].seed != b->runs[j].seed) continue;
            double x = study_at(&cc->runs[i], m, s_c), y = study_at(&b->runs[j], m, s_0);
            if (isfinite(x) && isfinite(y)) v[p.n] = x, bv[p.n] = y, d[p.n] = x - y, p.n++;
        }
    if (p.n == 0) {
        p.mean = p.diff = p.lo = p.hi = p.sd = p.diff_sd = p.base_mean = NAN;
        return p;
    }
    double sv = 0, sd = 0, sb = 0;
    for (int i = 0; i < p.n; i++) sv += v[i], sd += d[i], sb += bv[i];
    p.mean = sv / p.n, p.diff = sd / p.n, p.base_mean = sb / p.n;
    double qv = 0, qd = 0;
    for (int i = 0; i < p.n; i++) qv += (v[i] - p.mean) * (v[i] - p.mean), qd += (d[i] - p.diff) * (d[i] - p.diff);
    p.sd = p.n > 1 ? sqrt(qv / (p.n - 1)) : NAN;
    p.diff_sd = p.n > 1 ? sqrt(qd / (p.n - 1)) : NAN;
    double half = p.n > 1 ? study_t975(p.n - 1) * p.diff_sd / sqrt((double)p.n) : NAN;
    p.lo = p.diff - half, p.hi = p.diff + half;
    return p;
}
