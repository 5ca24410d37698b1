/* pixeldit eval: sample quality of a checkpoint or a folder of PNGs, and
 * training of the feature network the metrics use (docs/eval.md). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "--:--");
    else snprintf(buf, n, "%02d:%02d", (int)(s / 60), (int)s % 60);
}

/* user: the int NFE per image of the sampler, or NULL */
static void show_progress(const char *what, long done, long total, double seconds, void *user) {
    const int *nfe = user;
    static double last;
    bool tty = isatty(STDERR_FILENO);
    if (!tty && done < total && seconds - last < 10) return;
    last = done < total ? seconds : 0; /* a second run (--ceiling) starts its clock at 0 */
    double rate = seconds > 0 ? done / seconds : 0;
    char eta[16];
    fmt_time(eta, sizeof eta, rate > 0 ? (total - done) / rate : -1);
    char cost[32] = "";
    if (nfe) snprintf(cost, sizeof cost, ", %d NFE/image", *nfe);
    fprintf(stderr, "%s%s: %ld/%ld images, %.1f img/s%s, ETA %s%s", tty ? "\r" : "", what, done, total, rate,
            cost, eta, tty ? (done == total ? "   \n" : "   ") : "\n");
}

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

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The *.png files of dir, sorted, read as (n, C, S, S) in [-1, 1]; each
 * must be S x S (images of another size are refused, not resized). */
static int read_pngs(const char *dir, int C, int S, float **imgs, long *n) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "pixeldit: --images %s: cannot open the folder: %s\n", dir, strerror(errno));
        return CLI_ERR;
    }
    char **names = NULL;
    long cnt = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".png")) continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 256;
            char **nn = realloc(names, (size_t)cap * sizeof *names);
            if (!nn) break;
            names = nn;
        }
        names[cnt++] = strdup(e->d_name);
    }
    closedir(d);
    int rc = CLI_OK;
    size_t per = (size_t)C * S * S;
    *imgs = cnt ? malloc((size_t)cnt * per * sizeof(float)) : NULL;
    if (cnt < 2) {
        fprintf(stderr, "pixeldit: --images %s: found %ld PNG files, need at least 2\n", dir, cnt);
        rc = CLI_ERR;
    } else if (!*imgs) rc = cli_fail("out of memory");
    if (!rc) qsort(names, (size_t)cnt, sizeof *names, cmp_str);
    for (long i = 0; !rc && i < cnt; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        pd_image im = {0};
        if (pd_png_read(path, C, &im)) rc = cli_fail("--images");
        else if (im.w != S || im.h != S) {
            fprintf(stderr, "pixeldit: %s: %dx%d, the data set's images are %dx%d\n", path, im.w, im.h, S, S);
            rc = CLI_ERR;
        } else
            for (int c = 0; c < C; c++)
                for (int p = 0; p < S * S; p++)
                    (*imgs)[(size_t)i * per + (size_t)c * S * S + p] = im.data[(size_t)p * C + c] / 255.0f * 2 - 1;
        pd_image_free(&im);
    }
    for (long i = 0; i < cnt; i++) free(names[i]);
    free(names);
    *n = cnt;
    return rc;
}

static void print_result(const pd_eval_result *r, const char *source) {
    printf("eval: %s\n", source);
    printf("  images          %ld\n", r->n);
    printf("  FD              %.3f   (floor at this n: %.3f, real training images vs test)\n", r->fd, r->fd_floor);
    printf("  KID             %.5g   (unbiased; classifier features)\n", r->cls.kid);
    if (r->cls.precision >= 0)
        printf("  precision       %.4f   recall %.4f   (k = %d manifolds)\n", r->cls.precision, r->cls.recall,
               PD_EVAL_PR_K);
    printf("  random net      FD %.4g, KID %.4g", r->rnd.fd, r->rnd.kid);
    if (r->rnd.precision >= 0) printf(", precision %.4f, recall %.4f", r->rnd.precision, r->rnd.recall);
    printf("   (untrained CNN, standardised features)\n");
    if (r->class_acc >= 0) printf("  class accuracy  %.4f\n", r->class_acc);
    printf("  grid score      %.3f   (real test images: %.3f)\n", r->grid_score, r->grid_score_real);
    printf("  feature network test accuracy %.4f\n", r->featnet_acc);
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
    pd_session s;
    bool have_session = false;
    if (config) {
        if ((rc = load_config(config, &cfg))) return rc;
    } else {
        pd_st_file *f = NULL;
        rc = cli_open_checkpoint(ckpt, (int)ema, plugins, nplugins, &s, &f);
        pd_st_close(f);
        if (rc) return rc;
        have_session = true;
        cfg = s.cfg;
    }
    if (train_feats) {
        rc = train_features(&cfg, epochs, limit, seed);
        if (have_session) pd_session_close(&s);
        return rc;
    }
    pd_set_num_threads(cfg.train.threads);
    pd_eval_ref ref;
    if (pd_eval_ref_open(&ref, &cfg, cfg.model.patch_size)) {
        if (have_session) pd_session_close(&s);
        return cli_fail("eval");
    }
    int C = cfg.model.channels, S = cfg.model.image_size;
    size_t per = (size_t)C * S * S;
    float *imgs = NULL;
    int *labels = NULL;
    pd_eval_result r = {.fd_floor = -1, .fd_ceiling = -1};
    pd_sample_config sc;
    pd_sample_config_from(&cfg, &sc);
    uint64_t sd = seed >= 0 ? (uint64_t)seed : (uint64_t)cfg.sample.seed;
    int nfe = 0; /* set once the overrides are in */
    double t0 = pd_now_seconds();
    if (images) {
        rc = read_pngs(images, C, S, &imgs, &n);
    } else {
        /* the parser checked the names against the choices */
        if (sampler) pd_sampler_from_name(sampler, &sc.sampler);
        if (schedule) pd_schedule_from_name(schedule, &sc.schedule);
        if (steps > 0) sc.steps = (int)steps;
        if (cfg_scale >= 0) sc.cfg_scale = (float)cfg_scale;
        nfe = pd_sampler_nfe(sc.sampler, sc.steps);
        /* n <= PD_MAX_EVAL_IMAGES (the flag's range); the product is checked
         * anyway, in 64 bits, before it sizes a buffer */
        imgs = per && (uint64_t)n <= SIZE_MAX / sizeof(float) / per
                   ? malloc((size_t)n * per * sizeof(float)) : NULL;
        labels = malloc((size_t)n * sizeof(int));
        if (!imgs || !labels) rc = cli_fail("out of memory");
        else {
            fprintf(stderr, "pixeldit: sampling %ld images (%s, %s schedule, %d steps = %d NFE per image, cfg %.2f, "
                    "ema %ld, seed %llu), %d threads\n", n, pd_sampler_name(sc.sampler),
                    pd_schedule_name(pd_schedule_resolve(sc.schedule, sc.sampler)), sc.steps, nfe,
                    (double)sc.cfg_scale, ema, (unsigned long long)sd, pd_get_num_threads());
            if (pd_eval_sample(&s, &sc, n, sd, imgs, labels, show_progress, &nfe)) rc = cli_fail(ckpt);
        }
    }
    double t_sample = pd_now_seconds() - t0;
    if (!rc && pd_eval_images(&ref, imgs, n, labels, &r)) rc = cli_fail("eval");
    if (!rc && pd_eval_fd_floor(&ref, n, 1, &r.fd_floor)) rc = cli_fail("eval");
    r.seconds = pd_now_seconds() - t0;
    r.images_per_s = images ? 0 : n / t_sample;
    if (!rc) {
        print_result(&r, images ? images : ckpt);
        if (!images)
            printf("  settings        n %ld, sampler %s, schedule %s, steps %d, cfg %.2f, ema %ld, seed %llu; "
                   "%.1f images/s at %d NFE per image\n", n, pd_sampler_name(sc.sampler),
                   pd_schedule_name(pd_schedule_resolve(sc.schedule, sc.sampler)), sc.steps, (double)sc.cfg_scale,
                   ema, (unsigned long long)sd, r.images_per_s, nfe);
    }
    if (!rc && ceiling) {
        /* the same sampling from the same architecture at its initial weights */
        pd_eval_result c = {0};
        if (pd_jit_init_weights(s.model, (uint64_t)cfg.train.seed)) rc = cli_fail("ceiling");
        else if (pd_eval_sample(&s, &sc, n, sd, imgs, labels, show_progress, &nfe)) rc = cli_fail("ceiling");
        else if (pd_eval_images(&ref, imgs, n, labels, &c)) rc = cli_fail("ceiling");
        else {
            r.fd_ceiling = c.fd;
            printf("  FD ceiling      %.3f   (untrained model, same sampling)\n", c.fd);
        }
    }
    if (!rc && json &&
        pd_eval_write_json(json, &r, images ? images : ckpt, images ? NULL : pd_sampler_name(sc.sampler),
                           sc.steps, sc.cfg_scale, (int)ema, sd))
        rc = cli_fail("--json");
    if (!rc && json) printf("wrote %s\n", json);
    free(imgs);
    free(labels);
    pd_eval_ref_close(&ref);
    if (have_session) pd_session_close(&s);
    return rc;
}
