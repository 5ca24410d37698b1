/* The report's table of runs continued past the common step S (see
 * report_long.h): whether a mechanism's lead at S survives longer
 * training, and how far the baseline still is from its plateau. */
#include <math.h>
#include <string.h>

#include "report_long.h"

/* Points within one evaluation window move by 1-2 FD between neighbours
 * (sampling noise at n 500), so a single point is a poor reading of where
 * a long curve stands: average the three points ending at step s. */
enum { SMOOTH_POINTS = 3 };

static double smoothed_at(const study_run *r, study_metric m, double s) {
    if (r->n_points < 2) return NAN;
    double e = r->step[1] - r->step[0], sum = 0;
    for (int k = 0; k < SMOOTH_POINTS; k++) sum += study_at(r, m, s - k * e);
    return sum / SMOOTH_POINTS; /* NAN when the window leaves the curve */
}

static const study_run *run_with_seed(const study_config *c, int seed) {
    for (int k = 0; k < c->n_runs; k++)
        if (c->runs[k].seed == seed) return &c->runs[k];
    return NULL;
}

static double last_step(const study_run *r) { return r->step[r->n_points - 1]; }

/* "12.34" or "n/a" */
static const char *fmt(char *buf, size_t n, const char *f, double v) {
    if (isfinite(v)) snprintf(buf, n, f, v);
    else snprintf(buf, n, "n/a");
    return buf;
}

void report_long_table(FILE *md, const study *s, double S) {
    const study_config *b = &s->configs[0];
    int n_long = 0;
    for (int c = 0; c < s->n_configs; c++)
        for (int k = 0; k < s->configs[c].n_runs; k++) n_long += study_run_past(&s->configs[c].runs[k], S);
    if (!n_long || !(S > 0)) return;
    double t0 = b->step_time;
    fprintf(md, "### Runs continued past step %.0f\n\n", S);
    fprintf(md, "One seed per run, so no interval: these rows say whether a lead at step %.0f survives longer "
            "training, not by how much for certain. Each FD is the mean of the %d curve points ending at that "
            "step (EMA 1), because neighbouring points differ by 1–2 FD. Equal compute: the config read at the "
            "step that costs the baseline's training seconds at that step (steps × t₀/t).\n\n", S, SMOOTH_POINTS);
    fprintf(md, "| config | seed | step | FD | baseline FD (same seed and step) | ΔFD equal steps | step at equal "
            "compute | FD there | ΔFD equal compute |\n|---|---:|---:|---:|---:|---|---:|---:|---|\n");
    for (int c = 0; c < s->n_configs; c++) {
        const study_config *cc = &s->configs[c];
        double tc = cc->step_time;
        for (int k = 0; k < cc->n_runs; k++) {
            const study_run *r = &cc->runs[k];
            if (!study_run_past(r, S)) continue;
            const study_run *br = c ? run_with_seed(b, r->seed) : NULL;
            for (double at = S; at <= last_step(r) * 1.0005; at += S) {
                char a[32], bb[32], d[32], sc[32], fc[32], dc[32];
                double fd = smoothed_at(r, M_FD, at);
                if (!c) {
                    fprintf(md, "| %s | %d | %.0f | %s | (baseline) | | | | |\n", cc->name, r->seed, at,
                            fmt(a, sizeof a, "%.2f", fd));
                    continue;
                }
                double bfd = br ? smoothed_at(br, M_FD, at) : NAN;
                double steps_c = t0 > 0 && tc > 0 ? at * t0 / tc : NAN;
                double fd_c = isfinite(steps_c) ? smoothed_at(r, M_FD, steps_c) : NAN;
                fprintf(md, "| %s | %d | %.0f | %s | %s | %s | %s | %s | %s |\n", cc->name, r->seed, at,
                        fmt(a, sizeof a, "%.2f", fd), fmt(bb, sizeof bb, "%.2f", bfd),
                        fmt(d, sizeof d, "%+.2f", fd - bfd), fmt(sc, sizeof sc, "%.0f", steps_c),
                        fmt(fc, sizeof fc, "%.2f", fd_c), fmt(dc, sizeof dc, "%+.2f", fd_c - bfd));
            }
        }
    }
    /* the plateau criterion on the longest baseline run, read on the smoothed curve */
    const study_run *lb = NULL;
    for (int k = 0; k < b->n_runs; k++)
        if (!lb || last_step(&b->runs[k]) > last_step(lb)) lb = &b->runs[k];
    double end = lb ? last_step(lb) : 0;
    if (lb && study_run_past(lb, S)) {
        double from = smoothed_at(lb, M_FD, 2 * end / 3), to = smoothed_at(lb, M_FD, end);
        if (isfinite(from) && isfinite(to))
            fprintf(md, "\nThe baseline's longest run (seed %d, %.0f steps), on these %d-point means: FD %.2f at "
                    "step %.0f, %.2f at step %.0f, %.1f%% lower over the last third (the study asks for less "
                    "than 5%%).\n", lb->seed, end, SMOOTH_POINTS, from, 2 * end / 3, to, end,
                    100 * (1 - to / from));
    }
    fprintf(md, "\n");
}
