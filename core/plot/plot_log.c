/* loss.png for one run and overlays of several runs, from log.csv. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "log_table.h"
#include "pixeldit/plot.h"

/* Columns that are not loss curves. */
static bool bookkeeping(const char *name) {
    return !strcmp(name, "step") || !strcmp(name, "epoch") || !strcmp(name, "lr") ||
           !strcmp(name, "images_per_s");
}

/* Centred running mean over `window` points, NAN cells skipped. */
static double *smooth(const double *y, int n, int window) {
    double *out = malloc((size_t)(n ? n : 1) * sizeof *out);
    double *sum = malloc((size_t)(n + 1) * sizeof *sum);
    int *cnt = malloc((size_t)(n + 1) * sizeof *cnt);
    if (!out || !sum || !cnt) {
        free(out), free(sum), free(cnt);
        return NULL;
    }
    sum[0] = 0, cnt[0] = 0;
    for (int i = 0; i < n; i++) {
        bool ok = isfinite(y[i]);
        sum[i + 1] = sum[i] + (ok ? y[i] : 0);
        cnt[i + 1] = cnt[i] + ok;
    }
    int h = window / 2;
    for (int i = 0; i < n; i++) {
        int a = i - h < 0 ? 0 : i - h, b = i + h + 1 > n ? n : i + h + 1;
        int c = cnt[b] - cnt[a];
        out[i] = c ? (sum[b] - sum[a]) / c : NAN;
    }
    free(sum);
    free(cnt);
    return out;
}

static int window_for(int rows) { return rows / 50 > 1 ? rows / 50 | 1 : 1; }

/* The folder holding path ("runs/small/log.csv" -> "small"), else path. */
static void run_name(const char *path, char *out, size_t cap) {
    const char *end = strrchr(path, '/');
    if (!end) {
        snprintf(out, cap, "%s", path);
        return;
    }
    const char *start = end;
    while (start > path && start[-1] != '/') start--;
    if (start == end) snprintf(out, cap, "%s", path);
    else snprintf(out, cap, "%.*s", (int)(end - start), start);
}

/* x values: the step column, else the row number. */
static const double *x_values(const pd_log_table *t, double **owned) {
    int c = pd_log_table_column(t, "step");
    *owned = NULL;
    if (c >= 0 && t->numeric[c]) return t->v[c];
    *owned = malloc((size_t)(t->n_rows ? t->n_rows : 1) * sizeof **owned);
    for (int i = 0; *owned && i < t->n_rows; i++) (*owned)[i] = i + 1;
    return *owned;
}

static bool same_column(const pd_log_table *t, int a, int b) {
    for (int i = 0; i < t->n_rows; i++)
        if (!(t->v[a][i] == t->v[b][i]) && !(isnan(t->v[a][i]) && isnan(t->v[b][i]))) return false;
    return true;
}

pd_status pd_plot_training_log(const char *csv_path, const char *png_path) {
    if (!csv_path || !png_path) return pd_fail(PD_ERR_ARG, "plot: NULL path");
    pd_log_table t;
    pd_status s = pd_log_table_read(csv_path, &t);
    if (s) return s;
    int loss = pd_log_table_column(&t, "loss"), lr = pd_log_table_column(&t, "lr");
    if (t.n_rows == 0 || loss < 0 || !t.numeric[loss]) {
        pd_log_table_free(&t);
        return pd_fail(PD_ERR_FORMAT, "%s: expected a numeric 'loss' column and at least one row",
                       csv_path);
    }
    double *xo, *sm[PD_LOG_MAX_COLUMNS] = {0};
    const double *x = x_values(&t, &xo);
    pd_chart_series series[PD_LOG_MAX_COLUMNS + 2];
    int n = 0, w = window_for(t.n_rows);
    char names[PD_LOG_MAX_COLUMNS][PD_LOG_NAME_MAX + 16];
    s = x ? PD_OK : pd_fail(PD_ERR_NOMEM, "plot: out of memory");
    /* The raw loss, faint, under the smoothed curves. */
    if (!s && w > 1) series[n++] = (pd_chart_series){.x = x, .y = t.v[loss], .n = t.n_rows,
                                                     .color = 0, .alpha = 0.25, .width = 1};
    for (int c = 0, color = 0; !s && c < t.n_cols; c++) {
        if (!t.numeric[c] || bookkeeping(t.name[c])) continue;
        /* A single loss part equals the loss: one curve is enough. */
        if (c != loss && same_column(&t, c, loss)) continue;
        if (!(sm[c] = smooth(t.v[c], t.n_rows, w))) {
            s = pd_fail(PD_ERR_NOMEM, "plot: out of memory");
            break;
        }
        snprintf(names[c], sizeof names[c], "%s%s", t.name[c], w > 1 ? " (smoothed)" : "");
        series[n++] = (pd_chart_series){.label = names[c], .x = x, .y = sm[c], .n = t.n_rows,
                                        .color = c == loss ? 0 : ++color,
                                        .width = c == loss ? 2.5 : 1.8};
    }
    if (!s && lr >= 0 && t.numeric[lr])
        series[n++] = (pd_chart_series){.label = "learning rate", .x = x, .y = t.v[lr],
                                        .n = t.n_rows, .color = 7, .width = 1.5, .dashed = true,
                                        .right_axis = true};
    char run[256], title[400];
    run_name(csv_path, run, sizeof run);
    if (w > 1)
        snprintf(title, sizeof title, "%s: training loss (running mean over %d steps)", run, w);
    else
        snprintf(title, sizeof title, "%s: training loss", run);
    if (!s) {
        pd_chart chart = {.title = title, .x_label = "step", .y_label = "loss (log scale)",
                          .y2_label = "learning rate", .y_log = true, .series = series,
                          .n_series = n, .width = PD_PLOT_WIDTH, .height = PD_PLOT_HEIGHT};
        s = pd_chart_write_png(&chart, png_path);
    }
    for (int c = 0; c < PD_LOG_MAX_COLUMNS; c++) free(sm[c]);
    free(xo);
    pd_log_table_free(&t);
    return s;
}

pd_status pd_plot_compare(const char *const *csv_paths, const char *const *labels, int n,
                          const char *column, const char *png_path) {
    if (!csv_paths || !png_path || n < 1 || n > 10)
        return pd_fail(PD_ERR_ARG, "plot: expected 1 to 10 logs and an output path");
    const char *col = column ? column : "loss";
    pd_log_table t[10];
    double *sm[10] = {0}, *xo[10] = {0};
    pd_chart_series series[20];
    char names[10][256];
    int loaded = 0, ns = 0, w_max = 1;
    pd_status s = PD_OK;
    for (int i = 0; i < n && !s; i++) {
        if ((s = pd_log_table_read(csv_paths[i], &t[i]))) break;
        loaded++;
        int c = pd_log_table_column(&t[i], col);
        if (c < 0 || !t[i].numeric[c] || t[i].n_rows == 0) {
            s = pd_fail(PD_ERR_FORMAT, "%s: no numeric '%s' column with rows", csv_paths[i], col);
            break;
        }
        const double *x = x_values(&t[i], &xo[i]);
        int w = window_for(t[i].n_rows);
        if (w > w_max) w_max = w;
        if (!x || !(sm[i] = smooth(t[i].v[c], t[i].n_rows, w))) {
            s = pd_fail(PD_ERR_NOMEM, "plot: out of memory");
            break;
        }
        if (labels && labels[i]) snprintf(names[i], sizeof names[i], "%s", labels[i]);
        else run_name(csv_paths[i], names[i], sizeof names[i]);
        if (w > 1) series[ns++] = (pd_chart_series){.x = x, .y = t[i].v[c], .n = t[i].n_rows,
                                                    .color = i, .alpha = 0.18, .width = 1};
        series[ns++] = (pd_chart_series){.label = names[i], .x = x, .y = sm[i], .n = t[i].n_rows,
                                         .color = i, .width = 2.2};
    }
    if (!s) {
        char title[200], ylabel[120];
        snprintf(title, sizeof title, "%s per run (running mean over about 2%% of each run)", col);
        snprintf(ylabel, sizeof ylabel, "%s (log scale)", col);
        pd_chart chart = {.title = title, .x_label = "step", .y_label = ylabel, .y_log = true,
                          .series = series, .n_series = ns, .width = PD_PLOT_WIDTH,
                          .height = PD_PLOT_HEIGHT};
        s = pd_chart_write_png(&chart, png_path);
    }
    for (int i = 0; i < loaded; i++) pd_log_table_free(&t[i]);
    for (int i = 0; i < n; i++) free(sm[i]), free(xo[i]);
    return s;
}
