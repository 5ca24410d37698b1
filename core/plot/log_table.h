/* log_table.h - a training log.csv as numeric columns (internal to
 * core/plot). */
#ifndef PD_PLOT_LOG_TABLE_H
#define PD_PLOT_LOG_TABLE_H

#include <stdbool.h>

#include "pixeldit/status.h"

#define PD_LOG_MAX_COLUMNS 32
#define PD_LOG_NAME_MAX 48

/* Column c of row r is v[c][r]; a cell that is missing or not a number is
 * NAN. numeric[c]: at least one cell of the column is a number. */
typedef struct pd_log_table {
    int n_cols, n_rows;
    char name[PD_LOG_MAX_COLUMNS][PD_LOG_NAME_MAX];
    bool numeric[PD_LOG_MAX_COLUMNS];
    double *v[PD_LOG_MAX_COLUMNS];
} pd_log_table;

/* Reads a CSV with a header line. A short or cut-off last line (a run
 * still writing) is kept with NAN for what is missing. */
pd_status pd_log_table_read(const char *path, pd_log_table *t);
void pd_log_table_free(pd_log_table *t);
/* Index of the column with this name, or -1. */
int pd_log_table_column(const pd_log_table *t, const char *name);

#endif
