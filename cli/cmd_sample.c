/* pixeldit sample --ckpt FILE [options] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/runtime.h"
#include "pixeldit/trainer.h"

int cmd_sample(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL, *out_dir = NULL, *classes_arg = NULL, *sampler = NULL;
    const char *schedule = NULL, *precision = NULL;
    const char *plugins[8];
    int nplugins = 0;
    long n = -1, steps = -1, seed = -1, ema = 1;
    double cfg_scale = -1;
    const cli_opt opts[] = {
        {.name = "--ckpt", .kind = CLI_STRING, .arg = "FILE", .dst = &ckpt, .required = true,
         .help = "the checkpoint to sample from"},
        {.name = "--n", .kind = CLI_INT, .arg = "N", .dst = &n, .min = 1, .max = 100000,
         .help = "images per class (default: [sample] per_class of the checkpoint's config)"},
        {.name = "--classes", .kind = CLI_STRING, .arg = "LIST", .dst = &classes_arg,
         .help = "class ids, comma-separated (default: all); one grid row per class"},
        {.name = "--sampler", .kind = CLI_STRING, .arg = "NAME", .dst = &sampler, .choices = PD_SAMPLER_CHOICES,
         .help = "override [sample] sampler (docs/sampling.md)"},
        {.name = "--schedule", .kind = CLI_STRING, .arg = "NAME", .dst = &schedule, .choices = PD_SCHEDULE_CHOICES,
         .help = "override [sample] schedule, the time grid"},
        {.name = "--steps", .kind = CLI_INT, .arg = "S", .dst = &steps, .min = 1, .max = 100000,
         .help = "override [sample] steps (network evaluations per image: heun 2S-1, others S)"},
        {.name = "--cfg", .kind = CLI_DOUBLE, .arg = "W", .dst = &cfg_scale, .min = 0, .max = 1e4,
         .help = "override [sample] cfg (guidance scale)"},
        {.name = "--seed", .kind = CLI_INT, .arg = "S", .dst = &seed, .min = 0, .max = CLI_NO_MAX,
         .help = "override [sample] seed"},
        {.name = "--precision", .kind = CLI_STRING, .arg = "P", .dst = &precision,
         .choices = "fp32|bf16|bf16-emulated",
         .help = "the products' precision (default fp32, whatever [train] precision was): bf16 needs "
                 "AVX512_BF16 or AMX and oneDNN (docs/benchmarks.md)"},
        {.name = "--ema", .kind = CLI_INT, .arg = "1|2|0", .dst = &ema, .min = 0, .max = 2,
         .help = "weights: EMA 1 (default), EMA 2, or the raw model"},
        {.name = "--out", .kind = CLI_STRING, .arg = "FILE", .dst = &out,
         .help = "grid PNG (default samples.png unless --out-dir is given)"},
        {.name = "--out-dir", .kind = CLI_STRING, .arg = "DIR", .dst = &out_dir,
         .help = "also write one PNG per image"},
        {.name = "--plugin", .kind = CLI_STRINGS, .arg = "F.so", .dst = plugins, .max_count = 8,
         .count = &nplugins, .help = "load a plugin file the checkpoint needs"},
    };
    const cli_command cmd = {.name = "sample", .opts = opts, .n_opts = (int)(sizeof opts / sizeof *opts)};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
    if (!out && !out_dir) out = "samples.png";

    pd_session s;
    pd_st_file *f = NULL;
    rc = cli_open_checkpoint(ckpt, (int)ema, plugins, nplugins, &s, &f);
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
    /* the parser checked the names against the choices */
    if (sampler) pd_sampler_from_name(sampler, &sc.sampler);
    if (schedule) pd_schedule_from_name(schedule, &sc.schedule);
    if (steps > 0) sc.steps = (int)steps;
    if (cfg_scale >= 0) sc.cfg_scale = (float)cfg_scale;
    if (precision)
        sc.precision = !strcmp(precision, "bf16")            ? PD_PRECISION_BF16
                       : !strcmp(precision, "bf16-emulated") ? PD_PRECISION_BF16_EMULATED
                                                             : PD_PRECISION_FP32;
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
                return cli_opts_fail(&cmd, "--classes: '%s' is not a class id in 0..%d", tok, nc - 1);
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
    if (out)
        printf("wrote %s (%d classes x %d images, %s, %s schedule, %d steps = %d NFE per image, cfg %.2f, ema %ld%s)\n",
               out, ncls, per_class, pd_sampler_name(sc.sampler),
               pd_schedule_name(pd_schedule_resolve(sc.schedule, sc.sampler)), sc.steps,
               pd_sampler_nfe(sc.sampler, sc.steps), (double)sc.cfg_scale, ema,
               sc.precision == PD_PRECISION_BF16 ? ", bf16" : sc.precision ? ", bf16-emulated" : "");
    if (out_dir) printf("wrote %d images to %s/\n", ncls * per_class, out_dir);
    return CLI_OK;
}
