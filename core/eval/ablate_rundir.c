/* Finding an ablation's run folder again when its config moved in the list
 * (eval_internal.h). Run folders are named DIR/<i>-<name>/seed<k> by the
 * config's position i, so that two configs of one name from different
 * folders stay apart; the run key, not the name, says whether a folder
 * holds this run. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval_internal.h"

/* True when path is a regular file whose first word is key or legacy. */
static bool holds_key(const char *path, const char *key, const char *legacy) {
    struct stat sb;
    if (stat(path, &sb) || !S_ISREG(sb.st_mode)) return false; /* a probe: nothing to report */
    FILE *f = fopen(path, "rb");
    char word[20] = "";
    if (!f) return false;
    if (fscanf(f, "%19s", word) != 1) word[0] = '\0';
    fclose(f);
    return word[0] && (!strcmp(word, key) || !strcmp(word, legacy));
}

bool pd_ablate_find_moved_run(const char *out_dir, const char *label, int seed, const char *key,
                              const char *legacy, char *buf, size_t size) {
    DIR *d = opendir(out_dir);
    if (!d) return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));) {
        char *end;
        strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '-' || strcmp(end + 1, label)) continue;
        char path[1400];
        int n = snprintf(path, sizeof path, "%s/%s/seed%d/run_key.txt", out_dir, e->d_name, seed);
        if (n < 0 || (size_t)n >= sizeof path || !holds_key(path, key, legacy)) continue;
        n = snprintf(buf, size, "%s/%s/seed%d", out_dir, e->d_name, seed);
        found = n > 0 && (size_t)n < size;
    }
    closedir(d);
    return found;
}
