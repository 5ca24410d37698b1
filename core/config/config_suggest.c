/* "Did you mean ...?": the candidate nearest to a misspelt key or section. */
#include <string.h>

#include "config_internal.h"

/* Optimal-string-alignment distance (Levenshtein plus adjacent swaps, so
 * "widht" is one edit from "width"). Words here are short: a fixed table. */
static int edit_distance(const char *a, const char *b) {
    enum { MAXLEN = 64 };
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la >= MAXLEN || lb >= MAXLEN) return MAXLEN;
    int d[MAXLEN + 1][MAXLEN + 1];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++) {
        for (int j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

const char *pd_config_suggest(const char *word, const char *const *candidates, int n) {
    /* Allow about one edit per three letters, at least one, at most three. */
    int len = (int)strlen(word);
    int limit = len / 3;
    if (limit < 1) limit = 1;
    if (limit > 3) limit = 3;
    const char *best = NULL;
    int best_d = limit + 1;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, candidates[i]);
        if (d < best_d) best_d = d, best = candidates[i];
    }
    return best;
}
