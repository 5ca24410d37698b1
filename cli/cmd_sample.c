/* pixeldit sample --ckpt FILE [options] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/runtime.h"
#include "pixeldit/trainer.h"

static const char *usage =
    "usage: pixeldit sample --ckpt FILE [--n N] [--classes LIST] [--sampler heun|euler] [--steps S]\n"
    "                       [--cfg W] [--seed S] [--ema 1|2|0] [--out grid.png] [--out-dir DIR]\n"
    "                       [--plugin FILE.so ...]\n"
    "\n"
    "  --n N            images per class (default: [sample] per_class of the checkpoint's config)\n"
    "  --classes LIST   class ids, comma-separated (default: all); one grid row per class\n"
    "  --sampler, --steps, --cfg, --seed   override [sample] sampler/steps/cfg/seed\n"
    "  --ema 1|2|0      weights: EMA 1 (default), EMA 2, or the raw model\n"
    "  --out FILE       grid PNG (default samples.png unless --out-dir is given)\n"
    "  --out-dir DIR    also write one PNG per image\n"
    "  --plugin F.so    load a plugin file the checkpoint needs (repeatable)\n";

int cmd_sample(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL, *out_dir = NULL, *classes_arg = NULL, *sampler = NULL;
    const char *plugins[8];
    int nplugins = 0;
    long n = -1, steps = -1, seed = -1, ema = 1;
    double cfg_scale = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--ckpt") && has) ckpt = argv[++i];
        else if (!strcmp(a, "--out") && has) out = argv[++i];
        else if (!strcmp(a, "--out-dir") && has) out_dir = argv[++i];
        else if (!strcmp(a, "--classes") && has) classes_arg = argv[++i];
        else if (!strcmp(a, "--sampler") && has) sampler = argv[++i];
        else if (!strcmp(a, "--plugin") && has && nplugins < 8) plugins[nplugins++] = argv[++i];
        else if (!strcmp(a, "--n") && has) {
            if (!cli_int(argv[++i], &n) || n < 1 || n > 100000) return cli_usage(usage, "--n %s: expected an integer in 1..100000", argv[i]);
        } else if (!strcmp(a, "--steps") && has) {
            if (!cli_int(argv[++i], &steps) || steps < 1 || steps > 100000) return cli_usage(usage, "--steps %s: expected an integer in 1..100000", argv[i]);
        } else if (!strcmp(a, "--seed") && has) {
            if (!cli_int(argv[++i], &seed) || seed < 0) return cli_usage(usage, "--seed %s: expected a non-negative integer", argv[i]);
        } else if (!strcmp(a, "--ema") && has) {
            if (!cli_int(argv[++i], &ema) || ema < 0 || ema > 2) return cli_usage(usage, "--ema %s: expected 0, 1 or 2", argv[i]);
        } else if (!strcmp(a, "--cfg") && has) {
            if (!cli_double(argv[++i], &cfg_scale) || cfg_scale < 0 || cfg_scale > 1e4) return cli_usage(usage, "--cfg %s: expected a finite number in 0..10000", argv[i]);
        } else return cli_usage(usage, "unknown or incomplete option '%s'", a);
    }
    if (!ckpt) return cli_usage(usage, "sample needs --ckpt FILE");
    if (sampler && strcmp(sampler, "heun") && strcmp(sampler, "euler"))
        return cli_usage(usage, "--sampler %s: expected heun or euler", sampler);
    if (!out && !out_dir) out = "samples.png";

    pd_session s;
    pd_st_file *f = NULL;
    int rc = cli_open_checkpoint(ckpt, (int)ema, plugins, nplugins, &s, &f);
    const char *step_meta = rc ? NULL : pd_st_metadata(f, "step");
    long long ckpt_step = step_meta ? strtoll(step_meta, NULL, 10) : -1;
    pd_st_close(f);
    if (rc) return rc;
    const pd_config *cfg = &s.cfg;
    char note[320];
    if (ckpt_step >= 0 && pd_ema_young_note(cfg, (int)ema, ckpt_step, note, sizeof note))
        fprintf(stderr, "pixeldit: note: %s\n", note);
    pd_sample_config sc;
    pd_sample_config_from(cfg, &sc);
    if (sampler) sc.sampler = strcmp(sampler, "euler") ? PD_SAMPLER_HEUN : PD_SAMPLER_EULER;
    if (steps > 0) sc.steps = (int)steps;
    if (cfg_scale >= 0) sc.cfg_scale = (float)cfg_scale;
    int per_class = n > 0 ? (int)n : cfg->sample.per_class;
    int nc = cfg->model.num_classes;
    int *classes = malloc((size_t)nc * sizeof(int)), ncls = 0;
    if (!classes) return CLI_ERR;
    if (classes_arg) {
        char *dup = strdup(classes_arg);
        for (char *tok = strtok(dup, ","); tok; tok = strtok(NULL, ",")) {
            long c;
            if (!cli_int(tok, &c) || c < 0 || c >= nc || ncls == nc) {
                free(dup);
                free(classes);
                pd_session_close(&s);
                return cli_usage(usage, "--classes: '%s' is not a class id in 0..%d", tok, nc - 1);
            }
            classes[ncls++] = (int)c;
        }
        free(dup);
    } else {
        for (ncls = 0; ncls < nc; ncls++) classes[ncls] = ncls;
    }
    pd_set_num_threads(cfg->train.threads);
    uint64_t sd = seed >= 0 ? (uint64_t)seed : (uint64_t)cfg->sample.seed;
    pd_status st = pd_sample_grid(&s, &sc, classes, ncls, per_class, sd, out, out_dir, true);
    free(classes);
    pd_session_close(&s);
    if (st) return cli_fail("sample");
    if (out) printf("wrote %s (%d classes x %d images, %s, %d steps, cfg %.2f, ema %ld)\n", out, ncls,
                    per_class, sc.sampler == PD_SAMPLER_HEUN ? "heun" : "euler", sc.steps,
                    (double)sc.cfg_scale, ema);
    if (out_dir) printf("wrote %d images to %s/\n", ncls * per_class, out_dir);
    return CLI_OK;
}
