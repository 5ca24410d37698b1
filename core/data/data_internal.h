/* Shared between the data set builders in core/data/. */
#ifndef PD_DATA_INTERNAL_H
#define PD_DATA_INTERNAL_H

#include "pixeldit/data.h"

/* A zeroed data set with pixels (n, channels, size, size), labels (n) and
 * num_classes NULL class names; NULL (message set) when out of memory. */
pd_dataset *pd_dataset_alloc(int n, int channels, int size, int num_classes);

/* Sets class_names[k] to a copy of name; -1 when out of memory. */
int pd_dataset_set_class_name(pd_dataset *ds, int k, const char *name);

/* Checks the options shared by all sources; names `source` in messages. */
pd_status pd_dataset_check_opts(const pd_dataset_opts *opts, const char *source);

#endif
