/* pixeldit eval: sample quality of a checkpoint or a folder of PNGs, and
 * training of the feature network the metrics use (docs/eval.md). */
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "pixeldit/eval.h"
#include "pixeldit/limits.h"
#include "pixeldit/runtime.h"
#include "pixeldit/trainer.h"

static const char *synopsis =
    "--ckpt FILE [--n N] [--sampler NAME] [--schedule NAME] [--steps S] [--cfg W]\n"
    "                     [--ema 1|2|0] [--seed S] [--ceiling] [--json FILE] [--plugin FILE.so ...]\n"
    "       pixeldit eval --images DIR (--config CONFIG | --ckpt FILE) [--json FILE]\n"
    "       pixeldit eval --train-features (--config CONFIG | --ckpt FILE) [--epochs E] [--limit N]\n"
    "                     [--seed S]";

static const char *epilog =
    "Prints FD (against the test split, with the floor: real training images vs test), KID and\n"
    "precision/recall, the same in a random-weights network's feature space, class accuracy\n"
    "and the patch-grid score. Formulas and how to read them: docs/eval.md.\n";

static int load_config(const char *path, pd_config *cfg) {
    pd_config_defaults(cfg);
    if (pd_config_load_file(cfg, path) || pd_config_validate(cfg)) return cli_fail("config");
    return CLI_OK;
}

static int train_features(const pd_config *cfg, long epochs, long limit, long seed) {
    pd_dataset *train, *test;
    char name[64], path[1024];
    if (pd_eval_load_data(cfg, &train, &test, name, sizeof name)) return cli_fail("data");
    pd_featnet_key key;
    pd_featnet_key_of(train, name, &key);
    pd_featnet_train_opts o = pd_featnet_train_defaults();
    if (epochs > 0) o.epochs = (int)epochs;
    if (limit > 0) o.limit = (int)limit;
    if (seed >= 0) o.seed = (uint64_t)seed;
    o.progress = true;
    pd_set_num_threads(cfg->train.threads);
    int rc = CLI_OK;
    pd_featnet *net = NULL;
    double acc = 0, t0 = pd_now_seconds();
    if (pd_featnet_cache_path(&key, path, sizeof path, true)) rc = cli_fail("cache");
    else if (!(net = pd_featnet_new(&key, o.seed))) rc = cli_fail("feature network");
    else {
        fprintf(stderr, "pixeldit: training the feature network for %s (%dx%d, %d classes) on %d images, "
                "%d epochs, seed %llu, %d threads\n", name, key.size, key.size, key.num_classes,
                o.limit > 0 && o.limit < train->n ? o.limit : train->n, o.epochs,
                (unsigned long long)o.seed, pd_get_num_threads());
        if (pd_featnet_train(net, train, test, &o, &acc)) rc = cli_fail("feature network");
        else if (pd_featnet_save(net, path, acc)) rc = cli_fail("feature network");
        else printf("feature network: test accuracy %.4f on %d images (%.0f s); saved %s\n", acc, test->n,
                    pd_now_seconds() - t0, path);
    }
    pd_featnet_free(net);
    pd_dataset_free(train);
    pd_dataset_free(test);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *ckpt = NULL, *images = NULL, *config = NULL, *json = NULL, *sampler = NULL;
    const char *schedule = NULL;
    const char *plugins[8];
    int nplugins = 0;
    bool train_feats = false, ceiling = false;
    long n = 5000, steps = -1, seed = -1, ema = 1, epochs = 0, limit = 0;
    double cfg_scale = -1;
    const cli_opt opts[] = {
        {.name = "--ckpt", .kind = CLI_STRING, .arg = "FILE", .dst = &ckpt,
         .help = "sample N images (class-balanced) from a checkpoint and score them"},
        {.name = "--n", .kind = CLI_INT, .arg = "N", .dst = &n, .min = 2, .max = PD_MAX_EVAL_IMAGES,
         .help = "images to sample (default 5000)"},
        {.name = "--sampler", .kind = CLI_STRING, .arg = "NAME", .dst = &sampler, .choices = PD_SAMPLER_CHOICES,
         .help = "override [sample] sampler (docs/sampling.md)"},
        {.name = "--schedule", .kind = CLI_STRING, .arg = "NAME", .dst = &schedule, .choices = PD_SCHEDULE_CHOICES,
         .help = "override [sample] schedule, the time grid"},
        {.name = "--steps", .kind = CLI_INT, .arg = "S", .dst = &steps, .min = 1, .max = PD_MAX_SAMPLE_STEPS,
         .help = "override [sample] steps (network evaluations per image: heun 2S-1, others S)"},
        {.name = "--cfg", .kind = CLI_DOUBLE, .arg = "W", .dst = &cfg_scale, .min = 0, .max = CLI_NO_MAX,
         .help = "override [sample] cfg"},
        {.name = "--ema", .kind = CLI_INT, .arg = "1|2|0", .dst = &ema, .min = 0, .max = 2,
         .help = "weights: EMA 1 (default), EMA 2, or the raw model"},
        {.name = "--seed", .kind = CLI_INT, .arg = "S", .dst = &seed, .min = 0, .max = CLI_NO_MAX,
         .help = "override [sample] seed; with --train-features, its seed (0)"},
        {.name = "--ceiling", .kind = CLI_FLAG, .dst = &ceiling,
         .help = "also score an untrained model's samples (the top of the FD scale)"},
        {.name = "--images", .kind = CLI_STRING, .arg = "DIR", .dst = &images,
         .help = "score the PNGs in DIR (no class accuracy); the config or checkpoint names\n"
                 "the data set"},
        {.name = "--config", .kind = CLI_STRING, .arg = "CONFIG", .dst = &config,
         .help = "the config naming the data set (instead of --ckpt)"},
        {.name = "--json", .kind = CLI_STRING, .arg = "FILE", .dst = &json,
         .help = "also write the numbers as JSON"},
        {.name = "--train-features", .kind = CLI_FLAG, .dst = &train_feats,
         .help = "train the feature network for the config's data set and image size and\n"
                 "cache it in $XDG_CACHE_HOME/pixeldit (default ~/.cache/pixeldit)"},
        {.name = "--epochs", .kind = CLI_INT, .arg = "E", .dst = &epochs, .min = 1, .max = 10000,
         .help = "feature network training: epochs (4)"},
        {.name = "--limit", .kind = CLI_INT, .arg = "N", .dst = &limit, .min = 1, .max = PD_MAX_DATASET_IMAGES,
         .help = "feature network training: first N training images only (all)"},
        {.name = "--plugin", .kind = CLI_STRINGS, .arg = "F.so", .dst = plugins, .max_count = 8,
         .count = &nplugins, .help = "load a plugin file the checkpoint needs"},
    };
    const cli_command cmd = {.name = "eval", .synopsis = synopsis, .opts = opts,
                             .n_opts = (int)(sizeof opts / sizeof *opts), .epilog = epilog};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
    if (!train_feats && !ckpt && !images) return cli_opts_fail(&cmd, "eval needs --ckpt FILE or --images DIR");
    if (train_feats && images) return cli_opts_fail(&cmd, "--train-features and --images do not go together");
    if ((train_feats || images) && !config && !ckpt)
        return cli_opts_fail(&cmd, "%s needs --config CONFIG (or --ckpt FILE) to know the data set",
                         train_feats ? "--train-features" : "--images");

    if (ckpt && config) return cli_opts_fail(&cmd, "give --ckpt FILE or --config CONFIG, not both");
    if (ceiling && (!ckpt || images)) return cli_opts_fail(&cmd, "--ceiling needs --ckpt FILE (and no --images)");
    static pd_config cfg;
    if (train_feats) {
        if (config) return load_config(config, &cfg) ? CLI_ERR : train_features(&cfg, epochs, limit, seed);
        /* the checkpoint's config names the data set */
        pd_session s;
        pd_st_file *f = NULL;
        rc = cli_open_checkpoint(ckpt, (int)ema, plugins, nplugins, &s, &f);
        pd_st_close(f);
        if (rc) return rc;
        cfg = s.cfg;
        rc = train_features(&cfg, epochs, limit, seed);
        pd_session_close(&s);
        return rc;
    }
    if (config && (rc = load_config(config, &cfg))) return rc;
    const pd_eval_run_opts o = {.ckpt = ckpt, .images = images, .cfg = config ? &cfg : NULL, .ema = (int)ema,
                                .plugins = plugins, .n_plugins = nplugins, .n = n, .sampler = sampler,
                                .schedule = schedule, .steps = (int)steps, .cfg_scale = cfg_scale, .seed = seed,
                                .ceiling = ceiling, .json = json, .report = stdout, .progress = true};
    if (pd_eval_run(&o, NULL)) return cli_error();
    if (json) printf("wrote %s\n", json);
    return CLI_OK;
}
