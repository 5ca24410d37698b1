/* Which typed keys two resolved configs disagree on, outside the plugin
 * sections: what a comparison of two runs changes besides the plugins. */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

int pd_config_diff(const pd_config *a, const pd_config *b, pd_config_difference *out, int cap) {
    if (!a || !b || (cap > 0 && !out)) return 0;
    int n = 0;
    char va[PD_CONFIG_VALUE_MAX], vb[PD_CONFIG_VALUE_MAX];
    for (int i = 0; i < pd_cfg_n_keys; i++) {
        const cfg_key *k = &pd_cfg_keys[i];
        int sec = pd_cfg_section_index(k->section);
        if (sec < 0 || pd_cfg_sections[sec].plugin) continue;
        /* Canonical text compares doubles exactly (shortest round-trip). */
        pd_cfg_value_format(k, a, false, va, sizeof va);
        pd_cfg_value_format(k, b, false, vb, sizeof vb);
        if (strcmp(va, vb) == 0) continue;
        if (n < cap) {
            pd_config_difference *d = &out[n];
            d->section = k->section;
            d->key = k->name;
            snprintf(d->a, sizeof d->a, "%s", va);
            snprintf(d->b, sizeof d->b, "%s", vb);
        }
        n++;
    }
    return n;
}
