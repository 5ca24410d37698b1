/* A session from a checkpoint: the config its metadata stores (plugins by
 * name only, a path refused), the recorded plugin versions checked, and
 * the weights chosen by ema. What sample, forward and eval start from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/checkpoint.h"
#include "pixeldit/plugin_record.h"
#include "pixeldit/session.h"

/* "what: <the last error>", as the CLI has always printed it. */
static pd_status fail_as(pd_status st, const char *what) {
    char why[1024];
    snprintf(why, sizeof why, "%s", pd_last_error());
    return pd_fail(st ? st : PD_ERR_ARG, "%s: %s", what, why);
}

pd_status pd_session_open_checkpoint(pd_session *s, const char *path, int ema,
                                     const char *const *plugins, int n_plugins, pd_st_file **f) {
    pd_status st;
    if ((st = pd_st_open(path, f))) return fail_as(st, "cannot read checkpoint");
    const char *ini, *recorded;
    if ((st = pd_checkpoint_read_meta(*f, &ini, &recorded))) return fail_as(st, "cannot use checkpoint");
    pd_plugin_record rec;
    if ((st = pd_plugin_record_parse(recorded, path, &rec))) return fail_as(st, "cannot use checkpoint");
    pd_config *cfg = malloc(sizeof *cfg); /* large: not on the stack */
    if (!cfg) return pd_fail(PD_ERR_NOMEM, "checkpoint config: out of memory");
    pd_config_defaults(cfg);
    if ((st = pd_config_load_string(cfg, ini, path))) st = fail_as(st, "checkpoint config");
    /* a plugin path stored in the config would choose code to run: refused */
    else if ((st = pd_plugin_record_check_config(cfg, path))) st = fail_as(st, "cannot use checkpoint");
    /* plugins the user names on the command line are loaded first, so the
     * checkpoint's names find them */
    pd_plugin *given[16] = {0};
    for (int i = 0; !st && i < n_plugins; i++)
        if ((st = pd_plugin_load(plugins[i], 0, &given[i < 16 ? i : 15]))) st = fail_as(st, "--plugin");
    if (!st && (st = pd_session_open_model(s, cfg))) st = fail_as(st, path);
    free(cfg);
    if (st) return st;
    /* a --plugin the model does not run is said, not silently ignored */
    for (int i = 0; i < n_plugins && i < 16; i++)
        if (given[i] && given[i] != s->decoder && given[i] != s->attention)
            fprintf(stderr, "pixeldit: warning: --plugin %s: %s plugin %s is not used: %s runs "
                    "decoder %s and attention %s%s\n", plugins[i],
                    pd_plugin_kind_name(pd_plugin_get_kind(given[i])), pd_plugin_name(given[i]), path,
                    pd_plugin_name(s->decoder), pd_plugin_name(s->attention),
                    pd_plugin_get_kind(given[i]) == PD_PLUGIN_LOSS ? " (no loss is computed here)" : "");
    char note[512];
    if ((st = pd_plugin_record_check(&rec, s, PD_RECORD_MODEL, path, note, sizeof note))) {
        pd_session_close(s);
        return fail_as(st, "cannot use checkpoint");
    }
    if (note[0]) fprintf(stderr, "pixeldit: warning: %s: %s\n", path, note);
    const char *prefix = ema == 1 ? "ema1." : ema == 2 ? "ema2." : "";
    if ((st = pd_checkpoint_load_params(*f, pd_jit_params(s->model), prefix))) {
        pd_session_close(s);
        return fail_as(st, "cannot load weights");
    }
    return PD_OK;
}
