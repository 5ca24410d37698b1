/* pd_eval_run: `pixeldit eval` as a library call. A checkpoint's samples
 * (or a folder of PNGs) scored against the data its config names, with
 * the floor, optionally the ceiling, the printed report and the JSON. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pixeldit/checkpoint.h"
#include "pixeldit/eval.h"
#include "pixeldit/limits.h"
#include "pixeldit/runtime.h"
#include "pixeldit/trainer.h"

/* "what: <the last error>": the message names the step that failed. */
static pd_status fail_as(pd_status st, const char *what) {
    char why[1024];
    snprintf(why, sizeof why, "%s", pd_last_error());
    return pd_fail(st ? st : PD_ERR_ARG, "%s: %s", what, why);
}

static void fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "--:--");
    else snprintf(buf, n, "%02d:%02d", (int)(s / 60), (int)s % 60);
}

typedef struct {
    int nfe;     /* network evaluations per image of the sampler */
    double last; /* when a line was last shown off a terminal */
} progress_state;

/* One line every 10 s off a terminal (logs), a rewritten line on one. */
static void show_progress(const char *what, long done, long total, double seconds, void *user) {
    progress_state *p = user;
    bool tty = isatty(STDERR_FILENO);
    if (!tty && done < total && seconds - p->last < 10) return;
    p->last = done < total ? seconds : 0; /* a second run (the ceiling) starts its clock at 0 */
    double rate = seconds > 0 ? done / seconds : 0;
    char eta[16];
    fmt_time(eta, sizeof eta, rate > 0 ? (total - done) / rate : -1);
    fprintf(stderr, "%s%s: %ld/%ld images, %.1f img/s, %d NFE/image, ETA %s%s", tty ? "\r" : "", what, done,
            total, rate, p->nfe, eta, tty ? (done == total ? "   \n" : "   ") : "\n");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The *.png files of dir, sorted, read as (n, C, S, S) in [-1, 1]; each
 * must be S x S (images of another size are refused, not resized). */
static pd_status read_pngs(const char *dir, int C, int S, float **imgs, long *n) {
    DIR *d = opendir(dir);
    if (!d) return pd_fail(PD_ERR_IO, "--images %s: cannot open the folder: %s", dir, strerror(errno));
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
    pd_status st = PD_OK;
    size_t per = (size_t)C * S * S;
    *imgs = cnt ? malloc((size_t)cnt * per * sizeof(float)) : NULL;
    if (cnt < 2) st = pd_fail(PD_ERR_ARG, "--images %s: found %ld PNG files, need at least 2", dir, cnt);
    else if (!*imgs) st = fail_as(PD_ERR_NOMEM, "out of memory");
    if (!st) qsort(names, (size_t)cnt, sizeof *names, cmp_str);
    for (long i = 0; !st && i < cnt; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        pd_image im = {0};
        if ((st = pd_png_read(path, C, &im))) st = fail_as(st, "--images");
        else if (im.w != S || im.h != S)
            st = pd_fail(PD_ERR_FORMAT, "%s: %dx%d, the data set's images are %dx%d", path, im.w, im.h, S, S);
        else
            for (int c = 0; c < C; c++)
                for (int p = 0; p < S * S; p++)
                    (*imgs)[(size_t)i * per + (size_t)c * S * S + p] = im.data[(size_t)p * C + c] / 255.0f * 2 - 1;
        pd_image_free(&im);
    }
    for (long i = 0; i < cnt; i++) free(names[i]);
    free(names);
    *n = cnt;
    return st;
}

static void print_result(FILE *f, const pd_eval_result *r, const char *source) {
    fprintf(f, "eval: %s\n", source);
    fprintf(f, "  images          %ld\n", r->n);
    fprintf(f, "  FD              %.3f   (floor at this n: %.3f, real training images vs test)\n", r->fd,
            r->fd_floor);
    fprintf(f, "  KID             %.5g   (unbiased; classifier features)\n", r->cls.kid);
    if (r->cls.precision >= 0)
        fprintf(f, "  precision       %.4f   recall %.4f   (k = %d manifolds)\n", r->cls.precision, r->cls.recall,
                PD_EVAL_PR_K);
    fprintf(f, "  random net      FD %.4g, KID %.4g", r->rnd.fd, r->rnd.kid);
    if (r->rnd.precision >= 0) fprintf(f, ", precision %.4f, recall %.4f", r->rnd.precision, r->rnd.recall);
    fprintf(f, "   (untrained CNN, standardised features)\n");
    if (r->class_acc >= 0) fprintf(f, "  class accuracy  %.4f\n", r->class_acc);
    fprintf(f, "  grid score      %.3f   (real test images: %.3f)\n", r->grid_score, r->grid_score_real);
    fprintf(f, "  feature network test accuracy %.4f\n", r->featnet_acc);
}

/* Sampling, scoring, floor, ceiling and JSON once the data set's
 * reference and (for a checkpoint) the session are open. */
static pd_status eval_open(const pd_eval_run_opts *o, pd_session *s, const pd_config *cfg, pd_eval_ref *ref,
                           pd_eval_result *r) {
    pd_status st = PD_OK;
    int C = cfg->model.channels, S = cfg->model.image_size;
    size_t per = (size_t)C * S * S;
    float *imgs = NULL;
    int *labels = NULL;
    long n = o->n;
    *r = (pd_eval_result){.fd_floor = -1, .fd_ceiling = -1};
    pd_sample_config sc;
    pd_sample_config_from(cfg, &sc);
    uint64_t sd = o->seed >= 0 ? (uint64_t)o->seed : (uint64_t)cfg->sample.seed;
    progress_state ps = {0}; /* nfe set once the overrides are in */
    double t0 = pd_now_seconds();
    if (o->images) {
        st = read_pngs(o->images, C, S, &imgs, &n);
    } else {
        if (o->sampler) st = pd_sampler_from_name(o->sampler, &sc.sampler);
        if (!st && o->schedule) st = pd_schedule_from_name(o->schedule, &sc.schedule);
        if (o->steps > 0) sc.steps = o->steps;
        if (o->cfg_scale >= 0) sc.cfg_scale = (float)o->cfg_scale;
        ps.nfe = pd_sampler_nfe(sc.sampler, sc.steps);
        /* the product is checked in 64 bits before it sizes a buffer */
        if (!st && (n < 2 || n > PD_MAX_EVAL_IMAGES))
            st = pd_fail(PD_ERR_ARG, "eval: n = %ld images, expected 2..%d", n, PD_MAX_EVAL_IMAGES);
        if (!st) {
            imgs = per && (uint64_t)n <= SIZE_MAX / sizeof(float) / per
                       ? malloc((size_t)n * per * sizeof(float)) : NULL;
            labels = malloc((size_t)n * sizeof(int));
            if (!imgs || !labels) st = fail_as(PD_ERR_NOMEM, "out of memory");
        }
        if (!st) {
            if (o->progress)
                fprintf(stderr, "pixeldit: sampling %ld images (%s, %s schedule, %d steps = %d NFE per image, "
                        "cfg %.2f, ema %d, seed %llu), %d threads\n", n, pd_sampler_name(sc.sampler),
                        pd_schedule_name(pd_schedule_resolve(sc.schedule, sc.sampler)), sc.steps, ps.nfe,
                        (double)sc.cfg_scale, o->ema, (unsigned long long)sd, pd_get_num_threads());
            if ((st = pd_eval_sample(s, &sc, n, sd, imgs, labels, o->progress ? show_progress : NULL, &ps)))
                st = fail_as(st, o->ckpt);
        }
    }
    double t_sample = pd_now_seconds() - t0;
    if (!st && (st = pd_eval_images(ref, imgs, n, labels, r))) st = fail_as(st, "eval");
    if (!st && (st = pd_eval_fd_floor(ref, n, 1, &r->fd_floor))) st = fail_as(st, "eval");
    r->seconds = pd_now_seconds() - t0;
    r->images_per_s = o->images ? 0 : n / t_sample;
    if (!st && o->report) {
        print_result(o->report, r, o->images ? o->images : o->ckpt);
        if (!o->images)
            fprintf(o->report, "  settings        n %ld, sampler %s, schedule %s, steps %d, cfg %.2f, ema %d, "
                    "seed %llu; %.1f images/s at %d NFE per image\n", n, pd_sampler_name(sc.sampler),
                    pd_schedule_name(pd_schedule_resolve(sc.schedule, sc.sampler)), sc.steps,
                    (double)sc.cfg_scale, o->ema, (unsigned long long)sd, r->images_per_s, ps.nfe);
    }
    if (!st && o->ceiling) {
        /* the same sampling from the same architecture at its initial weights */
        pd_eval_result c = {0};
        if ((st = pd_jit_init_weights(s->model, (uint64_t)cfg->train.seed)) ||
            (st = pd_eval_sample(s, &sc, n, sd, imgs, labels, o->progress ? show_progress : NULL, &ps)) ||
            (st = pd_eval_images(ref, imgs, n, labels, &c)))
            st = fail_as(st, "ceiling");
        else {
            r->fd_ceiling = c.fd;
            if (o->report) fprintf(o->report, "  FD ceiling      %.3f   (untrained model, same sampling)\n", c.fd);
        }
    }
    if (!st && o->json &&
        (st = pd_eval_write_json(o->json, r, o->images ? o->images : o->ckpt,
                                 o->images ? NULL : pd_sampler_name(sc.sampler), sc.steps, sc.cfg_scale, o->ema,
                                 sd)))
        st = fail_as(st, "--json");
    free(imgs);
    free(labels);
    return st;
}

pd_status pd_eval_run(const pd_eval_run_opts *o, pd_eval_result *out) {
    if (!o->ckpt && !(o->images && o->cfg))
        return pd_fail(PD_ERR_ARG, "eval: needs a checkpoint, or a folder of images and a config");
    if (o->ceiling && (!o->ckpt || o->images))
        return pd_fail(PD_ERR_ARG, "eval: the ceiling needs a checkpoint (and no folder of images)");
    pd_session s;
    const pd_config *cfg = o->cfg;
    pd_status st;
    if (o->ckpt) {
        pd_st_file *f = NULL;
        st = pd_session_open_checkpoint(&s, o->ckpt, o->ema, o->plugins, o->n_plugins, &f);
        pd_st_close(f);
        if (st) return st;
        cfg = &s.cfg;
    }
    pd_set_num_threads(cfg->train.threads);
    pd_eval_ref ref;
    pd_eval_result r;
    if ((st = pd_eval_ref_open(&ref, cfg, cfg->model.patch_size))) st = fail_as(st, "eval");
    else {
        st = eval_open(o, o->ckpt ? &s : NULL, cfg, &ref, &r);
        pd_eval_ref_close(&ref);
        if (!st && out) *out = r;
    }
    if (o->ckpt) pd_session_close(&s);
    return st;
}
