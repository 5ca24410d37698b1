/* `pixeldit ablate`: train each config for the same budget from the same
 * seeds, evaluate each the same way, and write the comparison (markdown
 * table, JSON, one labelled PNG of sample grids). Each run's numbers go to
 * DIR/<i>-<name>/seed<k>/result.txt as soon as it is done, so a second call
 * skips finished runs. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval_internal.h"
#include "pixeldit/checkpoint.h"
#include "pixeldit/runtime.h"
#include "pixeldit/trainer.h"

enum { GRID_ROWS = 4 }; /* sample rows per config in ablation.png */

static volatile sig_atomic_t g_stop;
void pd_ablate_request_stop(void) {
    g_stop = 1;
    pd_train_request_stop();
}

/* What one training + evaluation run measured. */
typedef struct {
    char decoder[64], losses[128];
    double params, flops, train_ips, fd, class_acc, grid, grid_real;
    long steps;
    char key[20];   /* run_key: a stored result counts only for the same settings */
} run_result;

static pd_status write_result(const char *path, const run_result *r) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return pd_fail(PD_ERR_IO, "%s: cannot open for writing", tmp);
    fprintf(f, "decoder %s\nlosses %s\nparams %.0f\nflops %.6g\ntrain_ips %.6g\nfd %.9g\nclass_acc %.9g\n"
            "grid %.9g\ngrid_real %.9g\nsteps %ld\nkey %s\n", r->decoder, r->losses, r->params, r->flops,
            r->train_ips, r->fd, r->class_acc, r->grid, r->grid_real, r->steps, r->key);
    bool bad = ferror(f) != 0;
    if (fclose(f) || bad || rename(tmp, path)) {
        remove(tmp);
        return pd_fail(PD_ERR_IO, "%s: write failed", path);
    }
    return PD_OK;
}

/* Reads a result.txt back; false when it is missing or incomplete (the run
 * is then done again). */
static bool read_result(const char *path, const char *key, run_result *r) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    memset(r, 0, sizeof *r);
    char line[256];
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        *sp = '\0';
        const char *v = sp + 1;
        char *end;
        double x = strtod(v, &end);
        bool num = end != v && !*end && isfinite(x);
        if (!strcmp(line, "decoder")) snprintf(r->decoder, sizeof r->decoder, "%s", v), seen |= 1;
        else if (!strcmp(line, "losses")) snprintf(r->losses, sizeof r->losses, "%s", v), seen |= 2;
        else if (num && !strcmp(line, "params")) r->params = x, seen |= 4;
        else if (num && !strcmp(line, "flops")) r->flops = x, seen |= 8;
        else if (num && !strcmp(line, "train_ips")) r->train_ips = x, seen |= 16;
        else if (num && !strcmp(line, "fd")) r->fd = x, seen |= 32;
        else if (num && !strcmp(line, "class_acc")) r->class_acc = x, seen |= 64;
        else if (num && !strcmp(line, "grid")) r->grid = x, seen |= 128;
        else if (num && !strcmp(line, "grid_real")) r->grid_real = x, seen |= 256;
        else if (num && !strcmp(line, "steps")) r->steps = (long)x, seen |= 512;
        else if (!strcmp(line, "key") && !strcmp(v, key)) snprintf(r->key, sizeof r->key, "%s", v), seen |= 1024;
    }
    fclose(f);
    return seen == 2047;
}

/* A hash of everything a run's numbers depend on: the config as given,
 * the seed, the budget and the evaluation settings. */
static void run_key(const pd_ablate_opts *o, const pd_config *cfg, int seed, char *out, size_t size) {
    size_t len = pd_config_to_ini(cfg, NULL, 0);
    char *text = malloc(len + 1);
    uint64_t h = PD_FNV_OFFSET;
    if (text) {
        pd_config_to_ini(cfg, text, len + 1);
        h = pd_fnv1a(h, text, len);
        free(text);
    }
    char extra[256];
    int n = snprintf(extra, sizeof extra, "%d %ld %.9g %ld %d %d %.9g %d %d", seed, o->steps, o->minutes, o->n,
                     o->sampler, o->sample_steps, o->cfg_scale, o->ema, o->seed0);
    h = pd_fnv1a(h, extra, (size_t)n);
    snprintf(out, size, "%016llx", (unsigned long long)h);
}

/* "name@version" entries of the session's plugins, by kind. */
static void describe_plugins(const pd_session *s, run_result *r) {
    snprintf(r->decoder, sizeof r->decoder, "%s", pd_plugin_name(s->decoder));
    r->losses[0] = '\0';
    for (int i = 0; i < s->n_losses; i++) {
        size_t l = strlen(r->losses);
        snprintf(r->losses + l, sizeof r->losses - l, "%s%s", i ? "+" : "", pd_plugin_name(s->loss[i]));
    }
}

typedef struct {
    const pd_ablate_opts *o;
    pd_eval_ref ref;
    bool ref_open;
} ablation;

static pd_sample_config sample_config(const pd_ablate_opts *o, const pd_config *cfg) {
    pd_sample_config sc;
    pd_sample_config_from(cfg, &sc);
    sc.sampler = (pd_sampler_kind)o->sampler;
    sc.steps = o->sample_steps;
    sc.cfg_scale = (float)o->cfg_scale;
    return sc;
}

static void progress_line(const char *what, long done, long total, double seconds, void *user) {
    const pd_ablate_opts *o = user;
    static double last;
    if (!o->verbose || (done < total && seconds - last < 10)) return;
    last = done < total ? seconds : 0; /* the next evaluation starts its clock at 0 */
    double rate = seconds > 0 ? done / seconds : 0;
    fprintf(stderr, "%s: %ld/%ld images, %.1f img/s, ETA %.0fs\n", what, done, total, rate,
            rate > 0 ? (total - done) / rate : 0);
}

/* Samples o->n images from a session's model (weights loaded) and scores
 * them; the first GRID_ROWS * classes images are kept for the montage. */
static pd_status evaluate(ablation *a, pd_session *s, uint64_t seed, run_result *r, float *grid_out,
                          long keep) {
    const pd_ablate_opts *o = a->o;
    const pd_jit_config *jc = pd_jit_get_config(s->model);
    size_t per = (size_t)jc->channels * jc->image_size * jc->image_size;
    float *imgs = malloc((size_t)o->n * per * sizeof(float));
    int *labels = malloc((size_t)o->n * sizeof(int));
    pd_status st = (imgs && labels) ? PD_OK : pd_fail(PD_ERR_NOMEM, "ablate: out of memory for %ld images", o->n);
    pd_sample_config sc = sample_config(o, &s->cfg);
    pd_eval_result er = {0};
    if (!st) st = pd_eval_sample(s, &sc, o->n, seed, imgs, labels, progress_line, (void *)o);
    if (!st) st = pd_eval_images(&a->ref, imgs, o->n, labels, &er);
    if (!st) {
        r->fd = er.fd, r->class_acc = er.class_acc, r->grid = er.grid_score, r->grid_real = er.grid_score_real;
        if (grid_out) memcpy(grid_out, imgs, (size_t)keep * per * sizeof(float));
    }
    free(imgs), free(labels);
    return st;
}

/* Trains (or resumes) one run into dir, then evaluates its checkpoint. */
static pd_status train_and_eval(ablation *a, int ci, int seed, const char *dir, const char *key, run_result *r,
                                float *grid, long keep) {
    const pd_ablate_opts *o = a->o;
    static pd_config cfg;
    cfg = o->configs[ci];
    cfg.train.seed = seed;
    cfg.train.epochs = 0;       /* the budget decides */
    cfg.train.sample_every = 0;
    cfg.sample.per_class = 1;   /* the end-of-training grid: one row, cheap */
    cfg.sample.sampler = (pd_sampler_kind)o->sampler;
    cfg.sample.steps = o->sample_steps;
    char ckpt[1100];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-last.safetensors", dir);
    const char *resume = NULL;
    long steps = o->steps;
    /* a checkpoint counts only when it was started with the same settings */
    char key_path[1100], old_key[20] = "";
    snprintf(key_path, sizeof key_path, "%s/run_key.txt", dir);
    FILE *kf = fopen(key_path, "r");
    if (kf) {
        if (fscanf(kf, "%19s", old_key) != 1) old_key[0] = '\0';
        fclose(kf);
    }
    if (o->steps > 0 && !strcmp(old_key, key) && access(ckpt, R_OK) == 0) {
        /* an interrupted run with a step budget continues where it stopped */
        pd_st_file *f;
        if (!pd_st_open(ckpt, &f)) {
            const char *sm = pd_st_metadata(f, "step");
            long done = sm ? strtol(sm, NULL, 10) : 0;
            if (done > 0 && done <= o->steps) resume = ckpt, steps = o->steps - done;
            pd_st_close(f);
        }
    }
    pd_status st = PD_OK;
    if (!resume) {
        kf = fopen(key_path, "w");
        bool bad = !kf || fprintf(kf, "%s\n", key) < 0;
        if (kf && fclose(kf)) bad = true;
        if (bad) return pd_fail(PD_ERR_IO, "%s: cannot write", key_path);
    }
    if (!resume || steps > 0) {
        /* ablate owns its run folders: a run it does not continue was made
         * with other settings, or cut short in a time budget, so it is replaced */
        pd_train_opts to = {.cfg = &cfg, .out_dir = dir, .max_steps = steps, .max_minutes = o->minutes,
                            .resume = resume, .verbose = o->verbose, .force = !resume};
        pd_train_result tr;
        if ((st = pd_train_run(&to, &tr))) return st;
    }
    /* the checkpoint is the record: weights, config, steps and time */
    pd_st_file *f;
    if ((st = pd_st_open(ckpt, &f))) return st;
    const char *ini, *plugins;
    pd_session s;
    memset(&s, 0, sizeof s);
    static pd_config saved;
    pd_config_defaults(&saved);
    st = pd_checkpoint_read_meta(f, &ini, &plugins);
    if (!st) st = pd_config_load_string(&saved, ini, ckpt);
    if (!st) st = pd_session_open(&s, &saved);
    const char *prefix = o->ema == 1 ? "ema1." : o->ema == 2 ? "ema2." : "";
    if (!st) st = pd_checkpoint_load_params(f, pd_jit_params(s.model), prefix);
    if (!st) {
        const char *sm = pd_st_metadata(f, "step"), *ts = pd_st_metadata(f, "train_seconds");
        r->steps = sm ? strtol(sm, NULL, 10) : 0;
        double secs = ts ? strtod(ts, NULL) : 0;
        r->train_ips = secs > 0 ? (double)r->steps * saved.train.batch_size / secs : 0;
        r->params = (double)pd_params_numel(pd_jit_params(s.model), true);
        r->flops = pd_jit_flops_per_image(s.model);
        describe_plugins(&s, r);
        if (o->verbose) fprintf(stderr, "pixeldit: evaluating %s (%ld images)\n", dir, o->n);
        st = evaluate(a, &s, (uint64_t)o->seed0, r, grid, keep);
    }
    pd_session_close(&s);
    pd_st_close(f);
    return st;
}

/* The top of the FD scale: the first config's model at its initial weights,
 * sampled the same way; kept in DIR/ceiling.txt. */
static pd_status ceiling(ablation *a, double *out) {
    const pd_ablate_opts *o = a->o;
    char path[1100];
    snprintf(path, sizeof path, "%s/ceiling.txt", o->out_dir);
    char key[20], got[20] = "";
    run_key(o, &o->configs[0], -1, key, sizeof key);
    FILE *f = fopen(path, "r");
    if (f) {
        bool ok = fscanf(f, "%lf %19s", out, got) == 2 && isfinite(*out) && !strcmp(got, key);
        fclose(f);
        if (ok) return PD_OK;
    }
    pd_session s;
    memset(&s, 0, sizeof s);
    run_result r = {0};
    pd_status st = pd_session_open(&s, &o->configs[0]);
    if (!st) st = pd_jit_init_weights(s.model, (uint64_t)o->seed0);
    if (o->verbose && !st) fprintf(stderr, "pixeldit: sampling the untrained model (FD ceiling)\n");
    if (!st) st = evaluate(a, &s, (uint64_t)o->seed0, &r, NULL, 0);
    pd_session_close(&s);
    if (st) return st;
    *out = r.fd;
    if (!(f = fopen(path, "w"))) return pd_fail(PD_ERR_IO, "%s: cannot open for writing", path);
    fprintf(f, "%.9g %s\n", r.fd, key);
    return fclose(f) ? pd_fail(PD_ERR_IO, "%s: write failed", path) : PD_OK;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static double mean_of(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return n ? s / n : 0;
}

static double sd_of(const double *v, int n) {
    if (n < 2) return 0;
    double m = mean_of(v, n), s = 0;
    for (int i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
    return sqrt(s / (n - 1));
}

/* Per config: mean (and sample sd over seeds) of each number. */
typedef struct {
    run_result first;
    double fd, fd_sd, acc, acc_sd, grid, ips, steps;
} summary;

static pd_status write_reports(const pd_ablate_opts *o, const summary *sm, double floor_fd, double ceil_fd,
                               double grid_real, const char *diff) {
    char path[1100];
    snprintf(path, sizeof path, "%s/ablation.md", o->out_dir);
    FILE *md = fopen(path, "w");
    snprintf(path, sizeof path, "%s/ablation.json", o->out_dir);
    FILE *js = fopen(path, "w");
    if (!md || !js) {
        if (md) fclose(md);
        if (js) fclose(js);
        return pd_fail(PD_ERR_IO, "%s: cannot write ablation.md / ablation.json", o->out_dir);
    }
    char budget[64];
    if (o->steps > 0) snprintf(budget, sizeof budget, "%ld steps", o->steps);
    else snprintf(budget, sizeof budget, "%g minutes", o->minutes);
    const char *sampler = o->sampler == PD_SAMPLER_HEUN ? "heun" : "euler";
    fprintf(md, "# Ablation\n\nBudget %s per run, %d seed%s from %d; evaluation: %ld samples, %s %d steps, "
            "cfg %.2f, %s weights, sampling seed %d. FD against the test split; floor (real training images, "
            "same n) %.3f, ceiling (untrained model) %.3f. Grid score of real test images %.3f. "
            "Definitions: docs/eval.md.\n\n",
            budget, o->seeds, o->seeds > 1 ? "s" : "", o->seed0, o->n, sampler, o->sample_steps, o->cfg_scale,
            o->ema == 0 ? "raw" : o->ema == 1 ? "EMA 1" : "EMA 2", o->seed0, floor_fd, ceil_fd, grid_real);
    fprintf(md, "| config | decoder | losses | parameters | GFLOPs/image | steps | train img/s | step-time "
            "overhead | FD%s | FD change | class acc | grid score |\n", o->seeds > 1 ? " (mean ± sd)" : "");
    fprintf(md, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    fprintf(js, "{\n  \"budget_steps\": %ld,\n  \"budget_minutes\": %g,\n  \"seeds\": %d,\n  \"seed0\": %d,\n"
            "  \"n\": %ld,\n  \"sampler\": \"%s\",\n  \"sample_steps\": %d,\n  \"cfg\": %g,\n  \"ema\": %d,\n"
            "  \"fd_floor\": %.6f,\n  \"fd_ceiling\": %.6f,\n  \"grid_score_real\": %.6f,\n  \"configs\": [\n",
            o->steps, o->minutes, o->seeds, o->seed0, o->n, sampler, o->sample_steps, o->cfg_scale, o->ema,
            floor_fd, ceil_fd, grid_real);
    for (int i = 0; i < o->n_configs; i++) {
        const summary *s = &sm[i];
        double overhead = s->ips > 0 ? 100 * (sm[0].ips / s->ips - 1) : 0;
        double dfd = sm[0].fd > 0 ? 100 * (s->fd / sm[0].fd - 1) : 0;
        char fd[64];
        if (o->seeds > 1) snprintf(fd, sizeof fd, "%.2f ± %.2f", s->fd, s->fd_sd);
        else snprintf(fd, sizeof fd, "%.2f", s->fd);
        fprintf(md, "| %s | %s | %s | %.0f | %.3f | %.0f | %.1f | %s%+.1f%% | %s | %s%+.1f%% | %.3f | %.3f |\n",
                base_name(o->names[i]), s->first.decoder, s->first.losses, s->first.params, s->first.flops / 1e9, s->steps,
                s->ips, i ? "" : "(ref) ", overhead, fd, i ? "" : "(ref) ", dfd, s->acc, s->grid);
        fprintf(js, "    {\"name\": \"%s\", \"decoder\": \"%s\", \"losses\": \"%s\", \"parameters\": %.0f, "
                "\"flops_per_image\": %.6g, \"steps\": %.1f, \"train_images_per_s\": %.4f, "
                "\"step_time_overhead_pct\": %.3f, \"fd\": %.6f, \"fd_sd\": %.6f, \"fd_change_pct\": %.3f, "
                "\"class_accuracy\": %.6f, \"class_accuracy_sd\": %.6f, \"grid_score\": %.6f}%s\n",
                base_name(o->names[i]), s->first.decoder, s->first.losses, s->first.params, s->first.flops, s->steps, s->ips,
                overhead, s->fd, s->fd_sd, dfd, s->acc, s->acc_sd, s->grid, i + 1 < o->n_configs ? "," : "");
    }
    fprintf(md, "\nstep-time overhead: (train img/s of the first config) / (this config's) - 1. FD change: this "
            "FD / the first config's - 1 (negative is better).\n");
    if (diff[0]) fprintf(md, "\nThe configs also differ outside [decoder]/[loss]/[attention]:\n\n```\n%s```\n", diff);
    fprintf(md, "\n![samples](ablation.png)\n");
    fprintf(js, "  ]\n}\n");
    bool bad = ferror(md) || ferror(js);
    bad |= fclose(md) != 0;
    bad |= fclose(js) != 0;
    return bad ? pd_fail(PD_ERR_IO, "%s: write failed", o->out_dir) : PD_OK;
}

#define ABLATE_OUT_MAX 800

pd_status pd_ablate_run(const pd_ablate_opts *o) {
    if (o->n_configs < 1 || o->seeds < 1 || o->n < 2 || (o->minutes > 0) == (o->steps > 0))
        return pd_fail(PD_ERR_ARG, "ablate: needs configs, seeds >= 1, n >= 2 and one budget (--minutes or --steps)");
    /* every path below is out_dir plus at most ~160 bytes, in 1024-byte buffers */
    if (!o->out_dir || strlen(o->out_dir) > ABLATE_OUT_MAX)
        return pd_fail(PD_ERR_ARG, "ablate: --out: expected a folder path of at most %d bytes, found %zu",
                       ABLATE_OUT_MAX, o->out_dir ? strlen(o->out_dir) : (size_t)0);
    g_stop = 0;
    const pd_config *c0 = &o->configs[0];
    for (int i = 1; i < o->n_configs; i++) {
        const pd_config *c = &o->configs[i];
        if (c->model.image_size != c0->model.image_size || c->model.channels != c0->model.channels ||
            c->model.num_classes != c0->model.num_classes || strcmp(c->data.path, c0->data.path) ||
            c->data.fit != c0->data.fit || c->data.source != c0->data.source)
            return pd_fail(PD_ERR_CONFIG, "ablate: %s and %s use different data or image shapes; they cannot "
                           "share one FD scale", o->names[0], o->names[i]);
    }
    pd_status st = pd_eval_make_dir(o->out_dir);
    if (st) return st;
    ablation a = {.o = o};
    pd_set_num_threads(c0->train.threads);
    if ((st = pd_eval_ref_open(&a.ref, c0, c0->model.patch_size))) return st;
    int C = c0->model.channels, S = c0->model.image_size, K = c0->model.num_classes;
    size_t per = (size_t)C * S * S;
    int cols = K < 10 ? K : 10; /* samples are class i mod K: one column per class when K <= 10 */
    long keep = (long)GRID_ROWS * cols < o->n ? (long)GRID_ROWS * cols : o->n;
    summary *sm = calloc((size_t)o->n_configs, sizeof *sm);
    float **grids = calloc((size_t)o->n_configs, sizeof *grids);
    int *n_grid = calloc((size_t)o->n_configs, sizeof *n_grid);
    double *fd = malloc((size_t)o->seeds * sizeof(double)), *acc = malloc((size_t)o->seeds * sizeof(double));
    double floor_fd = 0, ceil_fd = 0;
    if (!sm || !grids || !n_grid || !fd || !acc) st = pd_fail(PD_ERR_NOMEM, "ablate: out of memory");
    if (!st) st = pd_eval_fd_floor(&a.ref, o->n, 1, &floor_fd);
    if (!st) st = ceiling(&a, &ceil_fd);
    for (int i = 0; i < o->n_configs && !st && !g_stop; i++) {
        if (!(grids[i] = calloc((size_t)keep * per, sizeof(float)))) {
            st = pd_fail(PD_ERR_NOMEM, "ablate: out of memory");
            break;
        }
        n_grid[i] = (int)keep;
        double grid = 0, ips = 0, steps = 0;
        for (int k = 0; k < o->seeds && !st && !g_stop; k++) {
            char dir[1024], res[1100], base[128];
            const char *nm = base_name(o->names[i]);
            snprintf(base, sizeof base, "%.*s", (int)strcspn(nm, "."), nm);
            snprintf(dir, sizeof dir, "%s/%d-%s/seed%d", o->out_dir, i, base, o->seed0 + k);
            snprintf(res, sizeof res, "%s/result.txt", dir);
            run_result r;
            char key[20];
            run_key(o, &o->configs[i], o->seed0 + k, key, sizeof key);
            float *g = k == 0 ? grids[i] : NULL;
            if (read_result(res, key, &r)) {
                if (o->verbose) fprintf(stderr, "pixeldit: %s: done before, reading %s\n", o->names[i], res);
                if (g) { /* the montage reads the samples kept beside the result */
                    char ck[1100];
                    snprintf(ck, sizeof ck, "%s/samples.safetensors", dir);
                    pd_st_file *f;
                    int shp[4] = {(int)keep, C, S, S};
                    if (pd_st_open(ck, &f) == PD_OK) {
                        if (pd_st_read_f32(f, "samples", g, shp, 4)) n_grid[i] = 0;
                        pd_st_close(f);
                    } else n_grid[i] = 0;
                }
            } else {
                if ((st = pd_eval_make_dir(dir))) break;
                if (o->verbose) fprintf(stderr, "pixeldit: ablate: %s, seed %d -> %s\n", o->names[i], o->seed0 + k, dir);
                if ((st = train_and_eval(&a, i, o->seed0 + k, dir, key, &r, g, keep))) break;
                snprintf(r.key, sizeof r.key, "%s", key);
                if (g) { /* kept beside the result so that a resumed ablation can draw them */
                    char ck[1100];
                    snprintf(ck, sizeof ck, "%s/samples.safetensors", dir);
                    pd_st_writer *w = pd_st_writer_new();
                    int shp[4] = {(int)keep, C, S, S};
                    st = w ? pd_st_writer_add(w, "samples", PD_ST_F32, shp, 4, g) : PD_ERR_NOMEM;
                    if (!st) st = pd_st_writer_write(w, ck);
                    pd_st_writer_free(w);
                    if (st) break;
                }
                if ((st = write_result(res, &r))) break;
                if (o->verbose)
                    fprintf(stderr, "pixeldit: %s seed %d: FD %.3f, class accuracy %.3f, grid score %.3f\n",
                            o->names[i], o->seed0 + k, r.fd, r.class_acc, r.grid);
            }
            if (k == 0) sm[i].first = r;
            fd[k] = r.fd, acc[k] = r.class_acc;
            grid += r.grid / o->seeds, ips += r.train_ips / o->seeds, steps += (double)r.steps / o->seeds;
        }
        if (st || g_stop) break;
        sm[i].fd = mean_of(fd, o->seeds), sm[i].fd_sd = sd_of(fd, o->seeds);
        sm[i].acc = mean_of(acc, o->seeds), sm[i].acc_sd = sd_of(acc, o->seeds);
        sm[i].grid = grid, sm[i].ips = ips, sm[i].steps = steps;
    }
    if (!st && g_stop) st = pd_fail(PD_ERR_INTERRUPTED, "ablate: interrupted; run the same command again to resume");
    if (!st) {
        size_t need = pd_ablate_config_diff(o->configs, o->n_configs, NULL, 0);
        char *diff = malloc(need + 1);
        if (!diff) st = pd_fail(PD_ERR_NOMEM, "ablate: out of memory");
        else {
            pd_ablate_config_diff(o->configs, o->n_configs, diff, need + 1);
            if (diff[0] && o->verbose) fprintf(stderr, "pixeldit: the configs also differ in:\n%s", diff);
            st = write_reports(o, sm, floor_fd, ceil_fd, a.ref.grid_score_real, diff);
            free(diff);
        }
    }
    if (!st) {
        const char **labels = malloc((size_t)o->n_configs * sizeof *labels);
        char (*text)[160] = malloc((size_t)o->n_configs * sizeof *text);
        if (!labels || !text) st = pd_fail(PD_ERR_NOMEM, "ablate: out of memory");
        for (int i = 0; !st && i < o->n_configs; i++) {
            const char *nm = base_name(o->names[i]);
            snprintf(text[i], sizeof text[i], "%s  FD %.2f", nm, sm[i].fd);
            labels[i] = text[i];
        }
        char path[1100];
        snprintf(path, sizeof path, "%s/ablation.png", o->out_dir);
        if (!st) st = pd_eval_montage(path, (const float *const *)grids, n_grid, labels, o->n_configs, C, S, cols);
        free(labels), free(text);
    }
    for (int i = 0; grids && i < o->n_configs; i++) free(grids[i]);
    free(grids), free(n_grid), free(sm), free(fd), free(acc);
    pd_eval_ref_close(&a.ref);
    return st;
}
