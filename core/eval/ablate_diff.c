/* Which resolved config keys differ between ablation configs, outside the
 * plugin sections (those are the point of the comparison).
 * TEMPORARY: a comparison over pd_config_to_ini text, until engineer
 * `firstrun`'s config-API function for this is merged; the lead switches
 * pd_ablate_config_diff to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/eval.h"

/* "section.key" -> value pairs of one config's INI text (plugin sections
 * skipped), in the text's order. */
typedef struct {
    int n;
    char key[128][64];
    char value[128][PD_CONFIG_VALUE_MAX];
} kv_list;

static void ini_pairs(const pd_config *cfg, kv_list *out) {
    out->n = 0;
    size_t len = pd_config_to_ini(cfg, NULL, 0);
    char *text = malloc(len + 1);
    if (!text) return;
    pd_config_to_ini(cfg, text, len + 1);
    char section[32] = "";
    for (char *line = strtok(text, "\n"); line && out->n < 128; line = strtok(NULL, "\n")) {
        while (*line == ' ') line++;
        if (*line == ';' || *line == '#' || !*line) continue;
        if (*line == '[') {
            snprintf(section, sizeof section, "%.*s", (int)strcspn(line + 1, "]"), line + 1);
            continue;
        }
        if (!strcmp(section, "decoder") || !strcmp(section, "loss") || !strcmp(section, "attention")) continue;
        char *eq = strchr(line, '=');
        if (!eq) continue;
        char *k = line, *ke = eq, *v = eq + 1;
        while (ke > k && ke[-1] == ' ') ke--;
        while (*v == ' ') v++;
        snprintf(out->key[out->n], sizeof out->key[0], "%s.%.*s", section, (int)(ke - k), k);
        snprintf(out->value[out->n], sizeof out->value[0], "%s", v);
        out->n++;
    }
    free(text);
}

static const char *lookup(const kv_list *l, const char *key) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->key[i], key)) return l->value[i];
    return "(unset)";
}

size_t pd_ablate_config_diff(const pd_config *configs, int n, char *buf, size_t cap) {
    size_t used = 0;
    if (cap) buf[0] = '\0';
    kv_list *l = malloc((size_t)n * sizeof *l);
    if (!l || n < 2) {
        free(l);
        return 0;
    }
    for (int i = 0; i < n; i++) ini_pairs(&configs[i], &l[i]);
    for (int k = 0; k < l[0].n; k++) {
        bool differs = false;
        for (int i = 1; i < n; i++) differs |= strcmp(l[0].value[k], lookup(&l[i], l[0].key[k])) != 0;
        if (!differs) continue;
        int w = snprintf(used < cap ? buf + used : NULL, used < cap ? cap - used : 0, "%s: %s", l[0].key[k], l[0].value[k]);
        used += (size_t)w;
        for (int i = 1; i < n; i++) {
            w = snprintf(used < cap ? buf + used : NULL, used < cap ? cap - used : 0, " | %s", lookup(&l[i], l[0].key[k]));
            used += (size_t)w;
        }
        w = snprintf(used < cap ? buf + used : NULL, used < cap ? cap - used : 0, "\n");
        used += (size_t)w;
    }
    free(l);
    return used;
}
