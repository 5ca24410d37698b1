/* `pixeldit report`: the study tables, plots and verdict of
 * docs/results.md, regenerated from the run records under results/ (and
 * the step times measured by `pixeldit bench`), so that every number in the
 * page can be checked against its data. Statistics: docs/results.md,
 * "How to read the tables". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"
#include "io/file_open.h"
#include "plot/chart.h"
#include "report_long.h"
#include "report_notes.h"
#include "study.h"

/* Effect of a paired difference of a lower-is-better metric. */
typedef enum { EFFECT_NONE, EFFECT_HELPS, EFFECT_HURTS, EFFECT_UNKNOWN } effect;
static effect effect_of(const study_pair *p) {
    if (p->n < 2 || !isfinite(p->lo)) return EFFECT_UNKNOWN;
    return p->hi < 0 ? EFFECT_HELPS : p->lo > 0 ? EFFECT_HURTS : EFFECT_NONE;
}

/* "-3.21 [-5.0, -1.4] (-12%)" */
static void fmt_diff(char *buf, size_t n, const study_pair *p, const char *fmt) {
    if (p->n == 0 || !isfinite(p->diff)) {
        snprintf(buf, n, "n/a");
        return;
    }
    char d[24], lo[24], hi[24];
    snprintf(d, sizeof d, fmt, p->diff);
    if (p->n < 2) {
        snprintf(buf, n, "%s (1 seed)", d);
        return;
    }
    snprintf(lo, sizeof lo, fmt, p->lo), snprintf(hi, sizeof hi, fmt, p->hi);
    double pct = p->base_mean != 0 ? 100 * p->diff / p->base_mean : NAN;
    snprintf(buf, n, "%s [%s, %s] (%+.0f%%)%s", d, lo, hi, pct,
             effect_of(p) == EFFECT_HELPS ? " **better**" : effect_of(p) == EFFECT_HURTS ? " **worse**" : "");
}

/* The step of config c with the baseline's training seconds at steps S:
 * S * t_0 / t_c; NAN without step times. A config faster than the
 * baseline has no curve past S, so it is read at S, the end of its curve:
 * with fewer training seconds than the baseline had, which can only count
 * against it (the table marks it). */
static double equal_compute_steps(const study *s, int c, double S) {
    double t0 = s->configs[0].step_time, tc = s->configs[c].step_time;
    if (!(t0 > 0 && tc > 0)) return NAN;
    double sc = S * t0 / tc;
    return sc > S ? S : sc;
}

/* True when config c is read at S although S * t_0 / t_c is beyond it. */
static bool read_early(const study *s, int c, double S) {
    double t0 = s->configs[0].step_time, tc = s->configs[c].step_time;
    return t0 > 0 && tc > 0 && S * t0 / tc > S * 1.0005;
}

/* Points of run r at or before step `upto`. */
static int points_upto(const study_run *r, double upto) {
    int n = 0;
    while (n < r->n_points && r->step[n] <= upto * 1.0005) n++;
    return n;
}

/* Mean over runs of metric m at each of run 0's points up to step `upto`,
 * as a series; x = steps * xscale. */
static void mean_curve(const study_config *c, study_metric m, double xscale, double upto, double *x, double *y,
                       int *n) {
    const study_run *r0 = &c->runs[0];
    *n = points_upto(r0, upto);
    for (int p = 0; p < *n; p++) {
        double sum = 0;
        int k = 0;
        for (int i = 0; i < c->n_runs; i++) {
            double v = study_at(&c->runs[i], m, r0->step[p]);
            if (isfinite(v)) sum += v, k++;
        }
        x[p] = r0->step[p] * xscale;
        y[p] = k ? sum / k : NAN;
    }
}

/* True when some run of s goes past step S (a run continued for longer). */
static bool has_long_runs(const study *s, double S) {
    for (int c = 0; c < s->n_configs; c++)
        for (int k = 0; k < s->configs[c].n_runs; k++)
            if (study_run_past(&s->configs[c].runs[k], S)) return true;
    return false;
}

/* FD against steps (seconds = false) or against the training seconds of
 * bench's step times (true), up to the common step S: each seed faint,
 * the mean bold. long_runs: instead, the runs that go past S, whole, one
 * bold line each (a study's longer runs would otherwise stretch the axis
 * and leave the comparison in its first third). */
static pd_status plot_study(const study *s, study_metric m, bool seconds, double S, bool long_runs,
                            const char *path) {
    int max_series = s->n_configs * (1 + STUDY_MAX_SEEDS);
    pd_chart_series *series = calloc((size_t)max_series, sizeof *series);
    double *buf = malloc((size_t)max_series * 2 * STUDY_MAX_POINTS * sizeof(double));
    char (*labels)[96] = calloc((size_t)max_series, sizeof *labels);
    if (!series || !buf || !labels) {
        free(series), free(buf), free(labels);
        return pd_fail(PD_ERR_NOMEM, "report: out of memory");
    }
    int ns = 0;
    double *next = buf;
    for (int c = 0; c < s->n_configs; c++) {
        const study_config *cc = &s->configs[c];
        double xs = seconds ? cc->step_time : 1;
        if (seconds && !(xs > 0)) continue;
        for (int k = 0; k < cc->n_runs; k++) {
            const study_run *r = &cc->runs[k];
            int n = long_runs ? r->n_points : points_upto(r, S);
            if (long_runs && n == points_upto(r, S)) continue;
            double *x = next, *y = next + STUDY_MAX_POINTS;
            next += 2 * STUDY_MAX_POINTS;
            for (int p = 0; p < n; p++) x[p] = r->step[p] * xs, y[p] = r->v[m][p];
            if (long_runs) {
                snprintf(labels[ns], sizeof labels[ns], "%s seed %d", cc->name, r->seed);
                series[ns] = (pd_chart_series){.label = labels[ns], .x = x, .y = y, .n = n, .color = c,
                                               .width = 2.5};
                ns++;
            } else {
                series[ns++] = (pd_chart_series){.x = x, .y = y, .n = n, .color = c, .alpha = 0.3, .width = 1};
            }
        }
        if (long_runs) continue;
        double *x = next, *y = next + STUDY_MAX_POINTS;
        next += 2 * STUDY_MAX_POINTS;
        int n;
        mean_curve(cc, m, xs, S, x, y, &n);
        series[ns++] = (pd_chart_series){.label = cc->name, .x = x, .y = y, .n = n, .color = c, .width = 2.5};
    }
    char title[200];
    if (long_runs)
        snprintf(title, sizeof title, "%s: %s of the runs continued past step %.0f (lower is better)", s->name,
                 study_metric_label[m], S);
    else
        snprintf(title, sizeof title, "%s: %s to step %.0f (mean of %s seeds bold, each seed faint; lower is "
                 "better)", s->name, study_metric_label[m], S, s->configs[0].n_runs > 1 ? "the" : "its");
    pd_chart chart = {.title = title,
                      .x_label = seconds ? "training seconds (steps x bench step time, quiet machine)" : "steps",
                      .y_label = study_metric_label[m], .y_log = true, .series = series, .n_series = ns,
                      .width = 960, .height = 540};
    pd_status st = ns ? pd_chart_write_png(&chart, path) : PD_OK;
    free(series), free(buf), free(labels);
    return st;
}

/* The verdict of one mechanism in one regime from its two FD comparisons. */
static const char *regime_verdict(effect steps, effect compute, bool have_compute) {
    if (have_compute && compute == EFFECT_HELPS) return "helps at equal compute";
    if (steps == EFFECT_HELPS) return have_compute ? "helps at equal steps only" : "helps at equal steps";
    if ((have_compute && compute == EFFECT_HURTS) || steps == EFFECT_HURTS) return "hurts";
    if (steps == EFFECT_UNKNOWN) return "too few seeds";
    return "no detectable effect";
}

typedef struct {
    const study *studies;
    int n;
    const predictions *ps;
    FILE *md;
    const char *plot_dir, *plot_link;
} report;

static pd_status study_section(report *rp, const study *s) {
    FILE *md = rp->md;
    double S = study_common_steps(s);
    fprintf(md, "\n## Regime `%s`\n\n", s->name);
    fprintf(md, "Records: `%s/` (%d config%s). Protocol of every curve point: %s, batch %d. Equal steps: %.0f "
            "(the last step every run reached).", s->path, s->n_configs, s->n_configs == 1 ? "" : "s", s->protocol, s->batch_size, S);
    const study_run *r0 = &s->configs[0].runs[0];
    fprintf(md, " FD floor (real training images, same n) %.2f, ceiling (untrained model) %.1f.\n\n",
            r0->fd_floor, r0->fd_ceiling);
    /* runs made in parts differ in commit and, resumed elsewhere or with
     * another thread count, in machine: say how many of each */
    int n_commits = 0, n_machines = 0, n_runs = 0;
    for (int c = 0; c < s->n_configs; c++)
        for (int k = 0; k < s->configs[c].n_runs; k++) {
            const study_run *r = &s->configs[c].runs[k];
            bool new_commit = true, new_machine = true;
            for (int c2 = 0; c2 <= c; c2++)
                for (int k2 = 0; k2 < (c2 < c ? s->configs[c2].n_runs : k); k2++) {
                    const study_run *q = &s->configs[c2].runs[k2];
                    new_commit &= strcmp(q->commit, r->commit) != 0;
                    new_machine &= strcmp(q->machine, r->machine) != 0;
                }
            n_commits += new_commit, n_machines += new_machine, n_runs++;
        }
    if (n_commits == 1 && n_machines == 1)
        fprintf(md, "Trained on: %s; commit %s", r0->machine, r0->commit);
    else
        fprintf(md, "Trained on: %s (the first record); the %d runs span %d commit%s and %d machine "
                "description%s (CPU, kernel, threads: each record names its own; a different thread "
                "count or commit changes rounding, not the arithmetic)", r0->machine, n_runs, n_commits,
                n_commits == 1 ? "" : "s", n_machines, n_machines == 1 ? "" : "s");
    fprintf(md, ". Step times: `pixeldit bench` on %s.\n\n",
            s->configs[0].bench_files ? s->configs[0].bench_machine : "(none measured yet)");
    /* the plateau: how much the baseline's FD still moved over the last third */
    study_pair late = study_compare(s, 0, M_FD, S, S), early = study_compare(s, 0, M_FD, 2 * S / 3, 2 * S / 3);
    if (late.n && early.n && isfinite(early.mean))
        fprintf(md, "Baseline FD at step %.0f: %.2f, at step %.0f: %.2f: it improved by %.1f%% over the last third "
                "of the run (the study asks for less than 5%%).\n\n", 2 * S / 3, early.mean, S, late.mean,
                100 * (1 - late.mean / early.mean));
    fprintf(md, "### At equal steps (%.0f)\n\n", S);
    fprintf(md, "| config | decoder | losses | seeds | FD | ΔFD vs baseline [95%% CI] | KID | ΔKID [95%% CI] "
            "| FD (random net) | ΔFD random net [95%% CI] | precision | recall | class acc |\n");
    fprintf(md, "|---|---|---|---:|---:|---|---:|---|---:|---|---:|---:|---:|\n");
    for (int c = 0; c < s->n_configs; c++) {
        const study_config *cc = &s->configs[c];
        study_pair fd = study_compare(s, c, M_FD, S, S), fr = study_compare(s, c, M_FD_RAND, S, S);
        study_pair kid = study_compare(s, c, M_KID, S, S), pr = study_compare(s, c, M_PRECISION, S, S);
        study_pair rc = study_compare(s, c, M_RECALL, S, S), acc = study_compare(s, c, M_CLASS_ACC, S, S);
        char dfd[160], dkid[160], dfr[160], fds[64];
        fmt_diff(dfd, sizeof dfd, &fd, "%+.2f"), fmt_diff(dkid, sizeof dkid, &kid, "%+.3g");
        if (fd.n > 1) snprintf(fds, sizeof fds, "%.2f ± %.2f", fd.mean, fd.sd);
        else snprintf(fds, sizeof fds, "%.2f", fd.mean);
        fmt_diff(dfr, sizeof dfr, &fr, "%+.3f");
        fprintf(md, "| %s | %s | %s | %d | %s | %s | %.4g | %s | %.3f | %s | %.3f | %.3f | %.3f |\n", cc->name,
                cc->decoder, cc->losses, fd.n, fds, c ? dfd : "(baseline)", kid.mean, c ? dkid : "", fr.mean,
                c ? dfr : "", pr.mean, rc.mean, acc.mean);
    }
    fprintf(md, "\n### At equal compute (the baseline's training seconds at step %.0f)\n\n", S);
    if (!(s->configs[0].step_time > 0)) {
        fprintf(md, "No step times in `%s/bench/` yet: run `scripts/study.sh bench` on a quiet machine.\n\n", s->path);
    } else {
        fprintf(md, "| config | step time (s) | overhead | FLOPs/image (G) | FLOP overhead | steps at equal compute | "
                "FD | ΔFD vs baseline [95%% CI] | ΔFD random net [95%% CI] |\n");
        fprintf(md, "|---|---:|---:|---:|---:|---:|---:|---|---|\n");
        for (int c = 0; c < s->n_configs; c++) {
            const study_config *cc = &s->configs[c];
            double sc = equal_compute_steps(s, c, S);
            study_pair fd = study_compare(s, c, M_FD, sc, S), fr = study_compare(s, c, M_FD_RAND, sc, S);
            char dfd[160], dfr[160], st[32];
            fmt_diff(dfd, sizeof dfd, &fd, "%+.2f"), fmt_diff(dfr, sizeof dfr, &fr, "%+.3f");
            if (cc->step_time > 0) snprintf(st, sizeof st, "%.4f", cc->step_time);
            else snprintf(st, sizeof st, "n/a");
            fprintf(md, "| %s | %s | %+.0f%% | %.3f | %+.0f%% | %.0f%s | %.2f | %s | %s |\n", cc->name, st,
                    100 * (cc->step_time / s->configs[0].step_time - 1), cc->flops / 1e9,
                    100 * (cc->flops / s->configs[0].flops - 1), sc, read_early(s, c, S) ? "\\*" : "",
                    fd.mean, c ? dfd : "(baseline)", c ? dfr : "");
        }
        fprintf(md, "\nA config slower than the baseline is read at an earlier step of its curve; n/a: its "
                "first evaluation comes after that step. \\*: a config faster than the baseline is read "
                "at the end of its curve, with fewer training seconds than the baseline's, which can "
                "only count against it.\n\n");
    }
    /* a plot that cannot be written fails the page: no page silently lacks one */
    char png[1200];
    pd_status st;
    snprintf(png, sizeof png, "%s/%s_fd_steps.png", rp->plot_dir, s->name);
    if ((st = plot_study(s, M_FD, false, S, false, png))) return st;
    fprintf(md, "![FD against steps](%s/%s_fd_steps.png)\n\n", rp->plot_link, s->name);
    if (s->configs[0].step_time > 0) {
        snprintf(png, sizeof png, "%s/%s_fd_seconds.png", rp->plot_dir, s->name);
        if ((st = plot_study(s, M_FD, true, S, false, png))) return st;
        fprintf(md, "![FD against training seconds](%s/%s_fd_seconds.png)\n\n", rp->plot_link, s->name);
    }
    snprintf(png, sizeof png, "%s/%s_fd_rand_steps.png", rp->plot_dir, s->name);
    if ((st = plot_study(s, M_FD_RAND, false, S, false, png))) return st;
    fprintf(md, "![FD in the random network's space against steps](%s/%s_fd_rand_steps.png)\n\n", rp->plot_link,
            s->name);
    if (has_long_runs(s, S)) {
        report_long_table(md, s, S);
        snprintf(png, sizeof png, "%s/%s_fd_long.png", rp->plot_dir, s->name);
        if ((st = plot_study(s, M_FD, false, S, true, png))) return st;
        fprintf(md, "Their whole curves:\n\n![FD of the longer runs](%s/%s_fd_long.png)\n\n",
                rp->plot_link, s->name);
    }
    return PD_OK;
}

static void verdict_section(report *rp) {
    FILE *md = rp->md;
    fprintf(md, "## Verdict\n\n");
    fprintf(md, "ΔFD: the mechanism's FD minus the baseline's, seed by seed (same seed: same data order, noise and "
            "t), mean and 95%% t interval; negative is better. A mechanism helps where the interval lies below 0. FD "
            "in the classifier's feature space decides; where it shows no effect and the random network's space "
            "(not trained for classification) shows one, the verdict stays undecided and says where.\n\n");
    fprintf(md, "| mechanism | design notes: FID gain | design notes: overhead |");
    for (int i = 0; i < rp->n; i++)
        fprintf(md, " `%s`: overhead | `%s`: ΔFD equal steps | `%s`: ΔFD equal compute | `%s` |", rp->studies[i].name,
                rp->studies[i].name, rp->studies[i].name, rp->studies[i].name);
    fprintf(md, " verdict |\n|---|---|---|");
    for (int i = 0; i < rp->n; i++) fprintf(md, "---:|---|---|---|");
    fprintf(md, "---|\n");
    for (int pi = 0; pi < rp->ps->n; pi++) {
        const prediction *p = &rp->ps->p[pi];
        fprintf(md, "| %s | %s | %s |", p->mechanism, p->fid_gain, p->overhead);
        int helps_compute = 0, hurts = 0, measured = 0, unknown = 0, fewest_seeds = 0;
        char where[400] = "", rand_where[400] = "";
        size_t wl = 0, rl = 0;
        for (int i = 0; i < rp->n; i++) {
            const study *s = &rp->studies[i];
            int c = -1;
            for (int j = 1; j < s->n_configs; j++)
                if (!strcmp(study_suffix(s, j), p->suffix)) c = j;
            if (c < 0) {
                fprintf(md, " – | not run | not run | |");
                continue;
            }
            measured++;
            double S = study_common_steps(s), sc = equal_compute_steps(s, c, S);
            study_pair a = study_compare(s, c, M_FD, S, S), b = study_compare(s, c, M_FD, sc, S);
            char da[160], db[160], ov[32];
            fmt_diff(da, sizeof da, &a, "%+.2f"), fmt_diff(db, sizeof db, &b, "%+.2f");
            bool have_b = isfinite(sc);
            if (s->configs[c].step_time > 0 && s->configs[0].step_time > 0)
                snprintf(ov, sizeof ov, "%+.0f%%", 100 * (s->configs[c].step_time / s->configs[0].step_time - 1));
            else snprintf(ov, sizeof ov, "n/a");
            const char *v = regime_verdict(effect_of(&a), effect_of(&b), have_b);
            /* the second feature space (not trained for classification) is
             * reported beside FD, never in its place: where FD sees nothing
             * and it does, the cell and the verdict say so */
            study_pair ra = study_compare(s, c, M_FD_RAND, S, S), rb = study_compare(s, c, M_FD_RAND, sc, S);
            bool rand_c = have_b && effect_of(&rb) == EFFECT_HELPS, rand_s = effect_of(&ra) == EFFECT_HELPS;
            bool fd_none = effect_of(&a) == EFFECT_NONE && (!have_b || effect_of(&b) == EFFECT_NONE);
            if (fd_none && (rand_c || rand_s)) {
                fprintf(md, " %s | %s | %s | %s; better in the random network's space at equal %s |", ov, da,
                        have_b ? db : "n/a (no step times)", v, rand_c ? "compute" : "steps");
                if (rl < sizeof rand_where)
                    rl += (size_t)snprintf(rand_where + rl, sizeof rand_where - rl, "%s`%s` at equal %s",
                                           rl ? "; " : "", s->name, rand_c ? "compute" : "steps");
            } else {
                fprintf(md, " %s | %s | %s | %s |", ov, da, have_b ? db : "n/a (no step times)", v);
            }
            bool hc = have_b && effect_of(&b) == EFFECT_HELPS, hs = effect_of(&a) == EFFECT_HELPS;
            unknown += effect_of(&a) == EFFECT_UNKNOWN;
            if (measured == 1 || a.n < fewest_seeds) fewest_seeds = a.n;
            helps_compute += hc;
            hurts += (have_b && effect_of(&b) == EFFECT_HURTS) || effect_of(&a) == EFFECT_HURTS;
            if ((hc || hs) && wl < sizeof where)
                wl += (size_t)snprintf(where + wl, sizeof where - wl, "%sin `%s` at equal %s", wl ? "; " : "",
                                       s->name, hc ? "compute" : "steps");
        }
        char verdict[480];
        if (!measured) snprintf(verdict, sizeof verdict, "not measured");
        else if (helps_compute == measured && !hurts) snprintf(verdict, sizeof verdict, "**keep**");
        else if (where[0]) snprintf(verdict, sizeof verdict, "**helps only** %s", where);
        else if (unknown) snprintf(verdict, sizeof verdict, "undecided (fewer than 2 seeds in a regime)");
        else if (rand_where[0] && !hurts)
            snprintf(verdict, sizeof verdict, "**undecided**: no effect on FD, better in the random network's "
                     "space (%s)", rand_where);
        else snprintf(verdict, sizeof verdict, "**drop**%s", hurts ? " (hurts)" : "");
        /* a verdict is only as strong as its thinnest regime: say what it rests on */
        if (measured && !unknown)
            fprintf(md, " %s, so far (%d seed%s, %d regime%s) |\n", verdict, fewest_seeds,
                    fewest_seeds == 1 ? "" : "s", measured, measured == 1 ? "" : "s");
        else
            fprintf(md, " %s |\n", verdict);
    }
    fprintf(md, "\nRecommended default per regime (lowest mean FD at equal compute among the configs whose "
            "interval excludes 0 in their favour; the baseline when none):\n\n");
    for (int i = 0; i < rp->n; i++) {
        const study *s = &rp->studies[i];
        double S = study_common_steps(s), best = INFINITY;
        int pick = 0;
        for (int c = 1; c < s->n_configs; c++) {
            double sc = equal_compute_steps(s, c, S);
            study_pair b = study_compare(s, c, M_FD, isfinite(sc) ? sc : S, S);
            if (effect_of(&b) == EFFECT_HELPS && b.mean < best) best = b.mean, pick = c;
        }
        fprintf(md, "- `%s`: `configs/%s.ini`%s\n", s->name, s->configs[pick].name,
                s->configs[0].step_time > 0 ? "" : " (equal steps: no step times measured yet)");
    }
    fprintf(md, "\n");
    report_notes_section(md, rp->studies, rp->n, rp->ps);
}

pd_status pd_report_write(const pd_report_opts *o) {
    if (o->n_studies < 1) return pd_fail(PD_ERR_ARG, "report: needs at least one study folder");
    study *studies = calloc((size_t)o->n_studies, sizeof *studies);
    predictions ps;
    if (!studies) return pd_fail(PD_ERR_NOMEM, "report: out of memory");
    pd_status st = report_notes_load(o->notes, &ps);
    int loaded = 0;
    for (int i = 0; i < o->n_studies && !st; i++, loaded++)
        st = study_load(o->studies[i], NULL, o->weights ? o->weights : "ema1", &studies[i]);
    if (!st) st = pd_eval_make_dir(o->plot_dir);
    char tmp[1200];
    FILE *md = st ? NULL : pd_tmp_fopen(o->out, tmp, sizeof tmp);
    if (!st && !md) st = PD_ERR_IO;
    if (!st) {
        fprintf(md, "<!-- generated by `%s` from the run records it names; do not edit: the text after the tables "
                "comes from %s -->\n# Results: which pixel-level mechanism is worth its cost\n\n", o->command,
                o->text ? o->text : "(none)");
        report rp = {.studies = studies, .n = o->n_studies, .ps = &ps, .md = md, .plot_dir = o->plot_dir,
                     .plot_link = o->plot_link ? o->plot_link : o->plot_dir};
        verdict_section(&rp);
        for (int i = 0; i < o->n_studies && !st; i++) st = study_section(&rp, &studies[i]);
        if (!st && o->text) {
            FILE *t = pd_fopen_regular(o->text, "report text", PD_ERR_IO);
            if (!t) st = PD_ERR_IO;
            else {
                fprintf(md, "\n");
                char buf[4096];
                for (size_t n; (n = fread(buf, 1, sizeof buf, t)) > 0;) fwrite(buf, 1, n, md);
                fclose(t);
            }
        }
        if (st) fclose(md), remove(tmp);
        else st = pd_tmp_commit_stream(md, tmp, o->out);
    }
    for (int i = 0; i < loaded; i++) study_free(&studies[i]);
    free(studies);
    return st;
}
