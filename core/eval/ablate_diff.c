/* Which resolved config keys differ between ablation configs, outside the
 * plugin sections (those are the point of the comparison), on top of the
 * config API's pairwise pd_config_diff: every config is compared with the
 * first, and a key that differs anywhere gets one line with all values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/eval.h"

#define MAX_KEYS 256 /* more than the schema has outside the plugin sections */

typedef struct {
    const char *section, *key;
} key_ref;

static int key_index(const key_ref *keys, int n, const pd_config_difference *d) {
    for (int i = 0; i < n; i++)
        if (!strcmp(keys[i].section, d->section) && !strcmp(keys[i].key, d->key)) return i;
    return -1;
}

/* snprintf-style append at buf + *used. */
static void put(char *buf, size_t cap, size_t *used, const char *fmt, const char *a,
                const char *b) {
    int w = snprintf(*used < cap ? buf + *used : NULL, *used < cap ? cap - *used : 0, fmt, a, b);
    if (w > 0) *used += (size_t)w;
}

size_t pd_ablate_config_diff(const pd_config *configs, int n, char *buf, size_t cap) {
    size_t used = 0;
    if (cap) buf[0] = '\0';
    if (n < 2) return 0;
    /* diffs[i - 1]: config i against config 0, schema order */
    pd_config_difference *diffs = calloc((size_t)(n - 1) * MAX_KEYS, sizeof *diffs);
    int *n_diffs = calloc((size_t)n, sizeof *n_diffs);
    key_ref *keys = calloc(MAX_KEYS, sizeof *keys);
    if (!diffs || !n_diffs || !keys) goto out;
    int n_keys = 0;
    for (int i = 1; i < n; i++) {
        int k = pd_config_diff(&configs[0], &configs[i], diffs + (size_t)(i - 1) * MAX_KEYS,
                               MAX_KEYS);
        n_diffs[i] = k < MAX_KEYS ? k : MAX_KEYS;
        for (int j = 0; j < n_diffs[i]; j++) {
            const pd_config_difference *d = &diffs[(size_t)(i - 1) * MAX_KEYS + j];
            if (key_index(keys, n_keys, d) < 0 && n_keys < MAX_KEYS)
                keys[n_keys++] = (key_ref){d->section, d->key};
        }
    }
    for (int k = 0; k < n_keys; k++) {
        const char *first = NULL;
        for (int i = 1; i < n && !first; i++)
            for (int j = 0; j < n_diffs[i]; j++) {
                const pd_config_difference *d = &diffs[(size_t)(i - 1) * MAX_KEYS + j];
                if (!strcmp(d->section, keys[k].section) && !strcmp(d->key, keys[k].key)) {
                    first = d->a;
                    break;
                }
            }
        put(buf, cap, &used, "%s.%s", keys[k].section, keys[k].key);
        put(buf, cap, &used, ": %s%s", first ? first : "", "");
        for (int i = 1; i < n; i++) {
            const char *v = first;
            for (int j = 0; j < n_diffs[i]; j++) {
                const pd_config_difference *d = &diffs[(size_t)(i - 1) * MAX_KEYS + j];
                if (!strcmp(d->section, keys[k].section) && !strcmp(d->key, keys[k].key)) v = d->b;
            }
            put(buf, cap, &used, " | %s%s", v ? v : "", "");
        }
        put(buf, cap, &used, "%s%s", "\n", "");
    }
out:
    free(diffs);
    free(n_diffs);
    free(keys);
    return used;
}
