/* x-y charts of a results CSV: one line per value of a text column (a
 * solver's FD against its NFE, say), points joined in order of x. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "io/file_open.h"
#include "log_table.h"
#include "pixeldit/plot.h"

#define XY_MAX_GROUPS 10
#define XY_GROUP_MAX 32

/* The text of column `col` in each data row of path (n_rows rows). */
static pd_status read_text_column(const char *path, int col, int n_rows, char (*out)[XY_GROUP_MAX]) {
    FILE *f = pd_fopen_regular(path, NULL, PD_ERR_IO);
    if (!f) return PD_ERR_IO;
    char line[4096];
    int r = -1; /* the header is row -1 */
    while (fgets(line, sizeof line, f) && r < n_rows) {
        if (r >= 0) {
            char *p = line;
            for (int c = 0; c < col && p; c++) p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
            size_t len = p ? strcspn(p, ",\r\n") : 0;
            snprintf(out[r], XY_GROUP_MAX, "%.*s", (int)(len < XY_GROUP_MAX ? len : XY_GROUP_MAX - 1), p ? p : "");
        }
        r++;
    }
    fclose(f);
    return PD_OK;
}

static int by_x(const void *a, const void *b) {
    const double *p = a, *q = b;
    return (p[0] > q[0]) - (p[0] < q[0]);
}

pd_status pd_plot_xy(const char *csv_path, const char *x_col, const char *y_col, const char *group_col,
                     const char *title, const char *png_path) {
    if (!csv_path || !x_col || !y_col || !png_path) return pd_fail(PD_ERR_ARG, "plot: NULL argument");
    pd_log_table t;
    pd_status s = pd_log_table_read(csv_path, &t);
    if (s) return s;
    int xc = pd_log_table_column(&t, x_col), yc = pd_log_table_column(&t, y_col);
    int gc = group_col ? pd_log_table_column(&t, group_col) : -1;
    const char *missing = xc < 0 ? x_col : yc < 0 ? y_col : group_col && gc < 0 ? group_col : NULL;
    if (missing) {
        pd_log_table_free(&t);
        return pd_fail(PD_ERR_FORMAT, "%s: no column '%s'", csv_path, missing);
    }
    int n = t.n_rows;
    char (*group)[XY_GROUP_MAX] = calloc((size_t)(n ? n : 1), XY_GROUP_MAX);
    double *pts = malloc((size_t)(n ? n : 1) * 2 * sizeof(double)); /* (x, y) of one group, sorted */
    double *xs = malloc((size_t)(n ? n : 1) * sizeof(double)), *ys = malloc((size_t)(n ? n : 1) * sizeof(double));
    s = group && pts && xs && ys ? PD_OK : pd_fail(PD_ERR_NOMEM, "plot: out of memory");
    if (!s && gc >= 0) s = read_text_column(csv_path, gc, n, group);
    char names[XY_MAX_GROUPS][XY_GROUP_MAX];
    int n_groups = 0;
    for (int r = 0; !s && r < n; r++) {
        int g = 0;
        while (g < n_groups && strcmp(names[g], group[r])) g++;
        if (g == n_groups) {
            if (n_groups == XY_MAX_GROUPS) {
                s = pd_fail(PD_ERR_FORMAT, "%s: more than %d values of '%s'", csv_path, XY_MAX_GROUPS, group_col);
                break;
            }
            snprintf(names[n_groups++], XY_GROUP_MAX, "%s", group[r]);
        }
    }
    /* each group's points sorted by x, laid out one group after another */
    pd_chart_series series[XY_MAX_GROUPS];
    int at = 0;
    for (int g = 0; !s && g < n_groups; g++) {
        int k = 0;
        for (int r = 0; r < n; r++)
            if (!strcmp(group[r], names[g]) && isfinite(t.v[xc][r]) && isfinite(t.v[yc][r])) {
                pts[2 * k] = t.v[xc][r];
                pts[2 * k + 1] = t.v[yc][r];
                k++;
            }
        qsort(pts, (size_t)k, 2 * sizeof(double), by_x);
        for (int i = 0; i < k; i++) xs[at + i] = pts[2 * i], ys[at + i] = pts[2 * i + 1];
        series[g] = (pd_chart_series){.label = gc >= 0 ? names[g] : NULL, .x = xs + at, .y = ys + at, .n = k,
                                      .color = g, .width = 2.2};
        at += k;
    }
    if (!s && at == 0) s = pd_fail(PD_ERR_FORMAT, "%s: no row with numbers in '%s' and '%s'", csv_path, x_col, y_col);
    if (!s) {
        pd_chart chart = {.title = title ? title : y_col, .x_label = x_col, .y_label = y_col,
                          .series = series, .n_series = n_groups, .width = PD_PLOT_WIDTH,
                          .height = PD_PLOT_HEIGHT};
        s = pd_chart_write_png(&chart, png_path);
    }
    free(group);
    free(pts);
    free(xs);
    free(ys);
    pd_log_table_free(&t);
    return s;
}
