/* log.csv reader for plots: header names, then numbers. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_table.h"
#include "io/file_open.h"

void pd_log_table_free(pd_log_table *t) {
    for (int c = 0; c < PD_LOG_MAX_COLUMNS; c++) free(t->v[c]);
    memset(t, 0, sizeof *t);
}

int pd_log_table_column(const pd_log_table *t, const char *name) {
    for (int c = 0; c < t->n_cols; c++)
        if (strcmp(t->name[c], name) == 0) return c;
    return -1;
}

/* Splits line at commas in place; returns the number of fields. */
static int split(char *line, char **fields, int cap) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < cap;) {
        fields[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma) break;
        *comma = '\0';
        p = comma + 1;
    }
    return n;
}

static bool parse_number(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) return false;
    *out = v;
    return true;
}

pd_status pd_log_table_read(const char *path, pd_log_table *t) {
    memset(t, 0, sizeof *t);
    FILE *f = pd_fopen_regular(path, NULL, PD_ERR_IO);
    if (!f) return PD_ERR_IO;
    char line[4096];
    char *fields[PD_LOG_MAX_COLUMNS];
    pd_status s = PD_OK;
    if (!fgets(line, sizeof line, f)) {
        s = pd_fail(PD_ERR_FORMAT, "%s: empty file, expected a CSV header line", path);
        goto done;
    }
    t->n_cols = split(line, fields, PD_LOG_MAX_COLUMNS);
    for (int c = 0; c < t->n_cols; c++)
        snprintf(t->name[c], PD_LOG_NAME_MAX, "%s", fields[c]);
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '\n' || line[0] == '\0') continue;
        if (t->n_rows == cap) {
            cap = cap ? cap * 2 : 1024;
            for (int c = 0; c < t->n_cols; c++) {
                double *v = realloc(t->v[c], (size_t)cap * sizeof *v);
                if (!v) {
                    s = pd_fail(PD_ERR_NOMEM, "%s: out of memory at row %d", path, t->n_rows);
                    goto done;
                }
                t->v[c] = v;
            }
        }
        int n = split(line, fields, PD_LOG_MAX_COLUMNS);
        for (int c = 0; c < t->n_cols; c++) {
            double v = NAN;
            if (c < n && parse_number(fields[c], &v)) t->numeric[c] = true;
            else v = NAN;
            t->v[c][t->n_rows] = v;
        }
        t->n_rows++;
    }
    if (ferror(f)) s = pd_fail(PD_ERR_IO, "%s: read error", path);
done:
    fclose(f);
    if (s) pd_log_table_free(t);
    return s;
}
