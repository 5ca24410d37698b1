/* `pixeldit ablate`: train each config for the same budget from the same
 * seeds, evaluating each during training with one protocol ([eval]: the
 * curve in RUN/eval.csv), and write the comparison (markdown table, JSON,
 * one labelled PNG of sample grids). Each finished run leaves a record,
 * DIR/<i>-<name>/seed<k>/result.json (and RESULTS/<name>/seed<k>.json with
 * --results), so a second call skips finished runs and a study can grow in
 * parts; a run cut short continues from its checkpoint, in its folder even
 * when its config now stands at another position (ablate_rundir.c). The run's own
 * config is the only source of code: a checkpoint found in the folder is
 * continued through pd_train_run's --resume checks, never opened as a
 * session from the config stored inside it. */
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval_internal.h"
#include "io/file_open.h"
#include "io/json.h"
#include "pixeldit/checkpoint.h"
#include "pixeldit/runtime.h"
#include "pixeldit/trainer.h"

enum { GRID_ROWS = 4 }; /* sample rows per config in ablation.png */

static volatile sig_atomic_t g_stop;
void pd_ablate_request_stop(void) {
    g_stop = 1;
    pd_train_request_stop();
}

/* What one run measured: the last evaluation of the chosen weights. */
typedef struct {
    char decoder[64], losses[128];
    double params, flops, train_ips, fd, class_acc, grid, kid, fd_rand;
    long steps;
} run_result;

/* A hash of everything a run's numbers depend on: the config as trained
 * (its [eval] protocol included), the seed and the kind of budget. A step
 * budget's size is left out: the learning rate is constant after warm-up,
 * so a longer budget continues the same run (its curve grows) and a
 * shorter one reads the curve at that step. [sample] sampler, schedule
 * and steps are left out too: they set only `pixeldit sample` and the
 * preview grids, never the curve ([eval] has its own; the guidance
 * interval, which the evaluation does take from [sample], stays in), so a
 * changed default sampler does not orphan the recorded runs. The LEGACY
 * key (the one recorded before 2026-12-07) hashes every key; runs recorded
 * under it are still found. */
typedef enum { KEY_CURRENT, KEY_LEGACY } key_kind;

/* Removes the lines "key = ..." of section [sec] whose key is in keys
 * (NULL-terminated) from INI text, in place. */
static void drop_keys(char *text, const char *sec, const char *const *keys) {
    bool in = false;
    char *p = text;
    while (*p) {
        char *next = strchr(p, '\n');
        size_t len = next ? (size_t)(next - p) + 1 : strlen(p);
        if (p[0] == '[') {
            size_t sl = strlen(sec);
            in = !strncmp(p + 1, sec, sl) && p[1 + sl] == ']';
        } else if (in) {
            for (const char *const *k = keys; *k; k++) {
                size_t kl = strlen(*k);
                if (!strncmp(p, *k, kl) && (p[kl] == ' ' || p[kl] == '=')) {
                    memmove(p, p + len, strlen(p + len) + 1);
                    len = 0;
                    break;
                }
            }
        }
        p += len;
        if (!len && !*p) break;
    }
}

/* The [sample] keys the run key leaves out. */
static const char *const sampling_keys[] = {"sampler", "schedule", "steps", NULL};

static void run_key(const pd_ablate_opts *o, const pd_config *cfg, int seed, key_kind kind, char *out,
                    size_t size) {
    size_t len = pd_config_to_ini(cfg, NULL, 0);
    char *text = malloc(len + 1);
    uint64_t h = PD_FNV_OFFSET;
    if (text) {
        pd_config_to_ini(cfg, text, len + 1);
        if (kind == KEY_CURRENT) drop_keys(text, "sample", sampling_keys);
        h = pd_fnv1a(h, text, strlen(text));
        free(text);
    }
    char extra[128];
    int n = snprintf(extra, sizeof extra, "%d %s %.9g", seed, o->steps > 0 ? "steps" : "minutes", o->minutes);
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
    pd_config *cfgs;      /* the configs as trained: budget and [eval] protocol set */
    pd_eval_ref ref;
    bool ref_open;
    double floor_fd, ceil_fd;
} ablation;

static const char *weights_name(int ema) { return ema == 0 ? "raw" : "ema1"; }

/* The config of run (cfg, seed) as trained, as its record stores it, with
 * the keys the run key leaves out dropped; malloc'd, NULL without memory. */
static char *trained_text(const pd_config *cfg0, int seed) {
    static pd_config cfg; /* large: not on the stack */
    cfg = *cfg0;
    cfg.train.seed = seed;
    size_t len = pd_config_to_ini(&cfg, NULL, 0);
    char *text = malloc(len + 1);
    if (!text) return NULL;
    pd_config_to_ini(&cfg, text, len + 1);
    drop_keys(text, "sample", sampling_keys);
    return text;
}

/* The record's stored config (the config as trained) matches `trained`
 * once the keys the run key leaves out are dropped from it: how a record
 * made under an older key rule is recognised. */
static bool record_config_matches(const pd_json *root, const char *trained) {
    const char *text = trained ? pd_json_get_string(root, "config") : NULL;
    if (!text) return false;
    char *copy = strdup(text);
    if (!copy) return false;
    drop_keys(copy, "sample", sampling_keys);
    bool same = !strcmp(copy, trained);
    free(copy);
    return same;
}

/* Reads a run record: true when it is there, parses, has this key (or,
 * with `trained` given, the same config as trained, see above), reached
 * the step budget (when there is one) and has an evaluation of the chosen
 * weights at or before it; r gets the numbers of the last such one. */
static bool read_record(const char *path, const char *key, const char *trained, int ema, long budget,
                        run_result *r) {
    FILE *f = pd_fopen_regular(path, "run record", PD_ERR_IO);
    if (!f) return false;
    char *text = malloc(1 << 22);
    size_t len = text ? fread(text, 1, (1 << 22) - 1, f) : 0;
    fclose(f);
    char err[160];
    pd_json_doc *doc = text ? pd_json_parse_full(text, len, err, sizeof err) : NULL;
    free(text);
    const pd_json *root = pd_json_root(doc);
    const char *k = pd_json_get_string(root, "config_hash");
    const pd_json *curve = pd_json_get(root, "curve");
    bool ok = k && (!strcmp(k, key) || record_config_matches(root, trained)) && curve &&
              curve->type == PD_JSON_ARRAY;
    memset(r, 0, sizeof *r);
    double steps = 0, batch = 0, secs = 0;
    ok = ok && pd_json_get_number(root, "steps", &steps) && pd_json_get_number(root, "batch_size", &batch) &&
         pd_json_get_number(root, "train_seconds", &secs) && pd_json_get_number(root, "parameters", &r->params) &&
         pd_json_get_number(root, "flops_per_image", &r->flops);
    const char *dec = pd_json_get_string(root, "decoder"), *los = pd_json_get_string(root, "losses");
    ok = ok && dec && los && (budget <= 0 || steps >= (double)budget);
    const pd_json *last = NULL;
    double at = 0;
    for (const pd_json *row = ok ? curve->child : NULL; row; row = row->next) {
        const char *w = pd_json_get_string(row, "weights");
        double step;
        if (w && !strcmp(w, weights_name(ema)) && pd_json_get_number(row, "step", &step) &&
            (budget <= 0 || step <= (double)budget))
            last = row, at = step;
    }
    ok = ok && last && pd_json_get_number(last, "fd", &r->fd) && pd_json_get_number(last, "class_acc", &r->class_acc) &&
         pd_json_get_number(last, "grid_score", &r->grid) && pd_json_get_number(last, "kid", &r->kid) &&
         pd_json_get_number(last, "fd_rand", &r->fd_rand);
    if (ok) {
        snprintf(r->decoder, sizeof r->decoder, "%s", dec);
        snprintf(r->losses, sizeof r->losses, "%s", los);
        r->steps = (long)at;
        r->train_ips = secs > 0 ? steps * batch / secs : 0;
    }
    pd_json_free(doc);
    return ok;
}

/* Copies a file (a record into RESULTS) through a temporary. */
static pd_status copy_file(const char *from, const char *to) {
    FILE *in = pd_fopen_regular(from, "run record", PD_ERR_IO);
    if (!in) return PD_ERR_IO;
    char tmp[1200];
    FILE *out = pd_tmp_fopen(to, tmp, sizeof tmp);
    if (!out) {
        fclose(in);
        return PD_ERR_IO;
    }
    char buf[65536];
    for (size_t n; (n = fread(buf, 1, sizeof buf, in)) > 0;) fwrite(buf, 1, n, out);
    bool bad = ferror(in) != 0;
    fclose(in);
    if (bad) {
        fclose(out);
        remove(tmp);
        return pd_fail(PD_ERR_IO, "%s: read failed", from);
    }
    return pd_tmp_commit_stream(out, tmp, to);
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

/* Samples the protocol's n images from a session's model (weights set)
 * and scores them: the ceiling's evaluation. */
static pd_status evaluate(ablation *a, pd_session *s, pd_eval_result *er) {
    const pd_config_eval *e = &s->cfg.eval;
    const pd_jit_config *jc = pd_jit_get_config(s->model);
    size_t per = (size_t)jc->channels * jc->image_size * jc->image_size;
    float *imgs = malloc((size_t)e->n * per * sizeof(float));
    int *labels = malloc((size_t)e->n * sizeof(int));
    pd_status st = (imgs && labels) ? PD_OK : pd_fail(PD_ERR_NOMEM, "ablate: out of memory for %d images", e->n);
    pd_sample_config sc;
    pd_sample_config_from(&s->cfg, &sc);
    sc.sampler = e->sampler;
    sc.steps = e->steps;
    sc.cfg_scale = (float)e->cfg;
    if (!st) st = pd_eval_sample(s, &sc, e->n, (uint64_t)e->seed, imgs, labels, progress_line, (void *)a->o);
    if (!st) st = pd_eval_images(&a->ref, imgs, e->n, labels, er);
    free(imgs), free(labels);
    return st;
}

/* The step a checkpoint holds, from its metadata (0 when unreadable). */
static long checkpoint_step(const char *ckpt, double *train_seconds) {
    pd_st_file *f;
    long done = 0;
    if (train_seconds) *train_seconds = 0;
    if (pd_st_open(ckpt, &f)) return 0;
    const char *sm = pd_st_metadata(f, "step"), *ts = pd_st_metadata(f, "train_seconds");
    char *end;
    long v = sm ? strtol(sm, &end, 10) : 0;
    if (sm && !*end && v > 0) done = v;
    if (ts && train_seconds) {
        double t = strtod(ts, &end);
        if (!*end && isfinite(t) && t > 0) *train_seconds = t;
    }
    pd_st_close(f);
    return done;
}

/* Trains (or continues) one run into dir and writes its record.
 * same_config: the folder's record stores this run's config as trained, so
 * a checkpoint there is this run's whatever key rule named the folder. */
static pd_status train_run(ablation *a, int ci, int seed, const char *dir, const char *key,
                           const char *legacy, const char *record, bool same_config) {
    const pd_ablate_opts *o = a->o;
    static pd_config cfg;
    cfg = a->cfgs[ci];
    cfg.train.seed = seed;
    char ckpt[1100], key_path[1100], old_key[20] = "";
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-last.safetensors", dir);
    snprintf(key_path, sizeof key_path, "%s/run_key.txt", dir);
    FILE *kf = pd_fopen_regular(key_path, "run key", PD_ERR_IO);
    if (kf) {
        if (fscanf(kf, "%19s", old_key) != 1) old_key[0] = '\0';
        fclose(kf);
    }
    const char *resume = NULL;
    long steps = o->steps;
    /* an interrupted run with a step budget and the same settings continues
     * where it stopped, through train --resume's checks */
    if (o->steps > 0 && (!strcmp(old_key, key) || !strcmp(old_key, legacy) || same_config)) {
        long done = checkpoint_step(ckpt, NULL);
        if (done > 0 && done <= o->steps) resume = ckpt, steps = o->steps - done;
        if (resume && steps > 0 && o->verbose)
            fprintf(stderr, "pixeldit: ablate: resuming %s from its checkpoint at step %ld\n", dir, done);
    }
    pd_status st = PD_OK;
    if (strcmp(old_key, key)) { /* a new run, or one named under an older key rule: the current key from now on */
        char tmp[1200];
        FILE *w = pd_tmp_fopen(key_path, tmp, sizeof tmp);
        if (!w) return PD_ERR_IO;
        fprintf(w, "%s\n", key);
        if ((st = pd_tmp_commit_stream(w, tmp, key_path))) return st;
    }
    if (!resume || steps > 0) {
        /* ablate owns its run folders: a run it does not continue was made
         * with other settings, or cut short in a time budget, so it is replaced */
        /* --threads pins every run: pd_train_run sets the thread count from
         * the config it is given, where [train] threads = 0 means the cores
         * free at that moment (a run that started beside other work ran on
         * one core to its end); the record keeps the config as given */
        static pd_config train_cfg;
        train_cfg = cfg;
        if (o->threads > 0) train_cfg.train.threads = o->threads;
        pd_train_opts to = {.cfg = &train_cfg, .out_dir = dir, .max_steps = steps, .max_minutes = o->minutes,
                            .resume = resume, .verbose = o->verbose, .force = !resume};
        pd_train_result tr;
        if ((st = pd_train_run(&to, &tr))) return st;
    }
    /* the record: the given config's plugins (never the checkpoint's), the
     * checkpoint's step and time, the curve */
    double secs;
    long done = checkpoint_step(ckpt, &secs);
    pd_session s;
    memset(&s, 0, sizeof s);
    run_result r = {0};
    if ((st = pd_session_open(&s, &cfg))) return st;
    describe_plugins(&s, &r);
    double params = (double)pd_params_numel(pd_jit_params(s.model), true), flops = pd_jit_flops_per_image(s.model);
    pd_session_close(&s);
    size_t len = pd_config_to_ini(&cfg, NULL, 0);
    char *text = malloc(len + 1);
    if (text) pd_config_to_ini(&cfg, text, len + 1);
    if (!text) return pd_fail(PD_ERR_NOMEM, "ablate: out of memory");
    char csv[1100], label[128];
    snprintf(csv, sizeof csv, "%s/eval.csv", dir);
    const char *nm = strrchr(o->names[ci], '/') ? strrchr(o->names[ci], '/') + 1 : o->names[ci];
    snprintf(label, sizeof label, "%.*s", (int)strcspn(nm, "."), nm);
    pd_run_record rec = {
        .name = label, .config_file = o->names[ci], .key = key, .config_text = text,
        .decoder = r.decoder, .losses = r.losses, .seed = seed, .batch_size = cfg.train.batch_size,
        .steps = done, .train_seconds = secs, .params = params, .flops = flops, .n = cfg.eval.n,
        .sampler = pd_sampler_name(cfg.eval.sampler), .sample_steps = cfg.eval.steps,
        .nfe = pd_sampler_nfe(cfg.eval.sampler, cfg.eval.steps), .sample_seed = cfg.eval.seed,
        .cfg = cfg.eval.cfg, .fd_floor = a->floor_fd, .fd_ceiling = a->ceil_fd, .eval_csv = csv,
    };
    st = pd_run_record_write(record, &rec);
    free(text);
    return st;
}

/* The top of the FD scale: the first config's model at its initial weights,
 * sampled with the protocol; kept in DIR/ceiling.txt. */
static pd_status ceiling(ablation *a, double *out) {
    const pd_ablate_opts *o = a->o;
    char path[1100];
    snprintf(path, sizeof path, "%s/ceiling.txt", o->out_dir);
    char key[20], legacy[20], got[20] = "";
    run_key(o, &a->cfgs[0], -1, KEY_CURRENT, key, sizeof key);
    run_key(o, &a->cfgs[0], -1, KEY_LEGACY, legacy, sizeof legacy);
    FILE *f = pd_fopen_regular(path, "ceiling", PD_ERR_IO);
    if (f) {
        bool ok = fscanf(f, "%lf %19s", out, got) == 2 && isfinite(*out) &&
                  (!strcmp(got, key) || !strcmp(got, legacy));
        fclose(f);
        if (ok) return PD_OK;
    }
    pd_session s;
    memset(&s, 0, sizeof s);
    pd_eval_result r = {0};
    pd_status st = pd_session_open(&s, &a->cfgs[0]);
    if (!st) st = pd_jit_init_weights(s.model, (uint64_t)o->seed0);
    if (o->verbose && !st) fprintf(stderr, "pixeldit: sampling the untrained model (FD ceiling)\n");
    if (!st) st = evaluate(a, &s, &r);
    pd_session_close(&s);
    if (st) return st;
    *out = r.fd;
    char tmp[1200];
    FILE *w = pd_tmp_fopen(path, tmp, sizeof tmp);
    if (!w) return PD_ERR_IO;
    fprintf(w, "%.9g %s\n", r.fd, key);
    return pd_tmp_commit_stream(w, tmp, path);
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
    double fd, fd_sd, acc, acc_sd, grid, ips, steps, kid, fd_rand;
} summary;

static pd_status write_reports(const ablation *a, const summary *sm, const char *diff) {
    const pd_ablate_opts *o = a->o;
    const pd_config_eval *e = &a->cfgs[0].eval;
    char path[1100], tmp_md[1200], tmp_js[1200], path_js[1100];
    snprintf(path, sizeof path, "%s/ablation.md", o->out_dir);
    snprintf(path_js, sizeof path_js, "%s/ablation.json", o->out_dir);
    FILE *md = pd_tmp_fopen(path, tmp_md, sizeof tmp_md);
    FILE *js = md ? pd_tmp_fopen(path_js, tmp_js, sizeof tmp_js) : NULL;
    if (!js) {
        if (md) fclose(md), remove(tmp_md);
        return PD_ERR_IO;
    }
    char budget[64];
    if (o->steps > 0) snprintf(budget, sizeof budget, "%ld steps", o->steps);
    else snprintf(budget, sizeof budget, "%g minutes", o->minutes);
    const char *sampler = pd_sampler_name(e->sampler), *weights = o->ema == 0 ? "raw" : "EMA 1";
    int nfe = pd_sampler_nfe(e->sampler, e->steps);
    fprintf(md, "# Ablation\n\nBudget %s per run, %d seed%s from %d; evaluation: %d samples, %s %d steps "
            "(%d model evaluations per image before guidance), cfg %.2f, %s weights, sampling seed %d. FD "
            "against the test split; floor (real training images, same n) %.3f, ceiling (untrained model) "
            "%.3f. Grid score of real test images %.3f. Curves: each run's eval.csv and result.json. "
            "Definitions: docs/eval.md.\n\n",
            budget, o->seeds, o->seeds > 1 ? "s" : "", o->seed0, e->n, sampler, e->steps, nfe, e->cfg, weights,
            e->seed, a->floor_fd, a->ceil_fd, a->ref.grid_score_real);
    fprintf(md, "| config | decoder | losses | parameters | GFLOPs/image | steps | train img/s | step-time "
            "overhead | FD%s | FD change | KID | FD (random net) | class acc | grid score |\n",
            o->seeds > 1 ? " (mean ± sd)" : "");
    fprintf(md, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    fprintf(js, "{\n  \"budget_steps\": %ld,\n  \"budget_minutes\": %g,\n  \"seeds\": %d,\n  \"seed0\": %d,\n"
            "  \"n\": %d,\n  \"sampler\": \"%s\",\n  \"sample_steps\": %d,\n  \"nfe\": %d,\n  \"cfg\": %g,\n"
            "  \"ema\": %d,\n  \"fd_floor\": %.6f,\n  \"fd_ceiling\": %.6f,\n  \"grid_score_real\": %.6f,\n"
            "  \"configs\": [\n",
            o->steps, o->minutes, o->seeds, o->seed0, e->n, sampler, e->steps, nfe, e->cfg, o->ema, a->floor_fd,
            a->ceil_fd, a->ref.grid_score_real);
    for (int i = 0; i < o->n_configs; i++) {
        const summary *s = &sm[i];
        double overhead = s->ips > 0 ? 100 * (sm[0].ips / s->ips - 1) : 0;
        double dfd = sm[0].fd > 0 ? 100 * (s->fd / sm[0].fd - 1) : 0;
        char fd[64];
        if (o->seeds > 1) snprintf(fd, sizeof fd, "%.2f ± %.2f", s->fd, s->fd_sd);
        else snprintf(fd, sizeof fd, "%.2f", s->fd);
        fprintf(md, "| %s | %s | %s | %.0f | %.3f | %.0f | %.1f | %s%+.1f%% | %s | %s%+.1f%% | %.5f | %.3f | %.3f | %.3f |\n",
                base_name(o->names[i]), s->first.decoder, s->first.losses, s->first.params, s->first.flops / 1e9,
                s->steps, s->ips, i ? "" : "(ref) ", overhead, fd, i ? "" : "(ref) ", dfd, s->kid, s->fd_rand,
                s->acc, s->grid);
        fprintf(js, "    {\"name\": \"%s\", \"decoder\": \"%s\", \"losses\": \"%s\", \"parameters\": %.0f, "
                "\"flops_per_image\": %.6g, \"steps\": %.1f, \"train_images_per_s\": %.4f, "
                "\"step_time_overhead_pct\": %.3f, \"fd\": %.6f, \"fd_sd\": %.6f, \"fd_change_pct\": %.3f, "
                "\"kid\": %.8f, \"fd_rand\": %.6f, "
                "\"class_accuracy\": %.6f, \"class_accuracy_sd\": %.6f, \"grid_score\": %.6f}%s\n",
                base_name(o->names[i]), s->first.decoder, s->first.losses, s->first.params, s->first.flops, s->steps,
                s->ips, overhead, s->fd, s->fd_sd, dfd, s->kid, s->fd_rand, s->acc, s->acc_sd, s->grid,
                i + 1 < o->n_configs ? "," : "");
    }
    fprintf(md, "\nstep-time overhead: (train img/s of the first config) / (this config's) - 1, on this "
            "machine under its load; the equal-compute comparison uses `pixeldit bench` step times "
            "measured on a quiet machine (`pixeldit report`). FD change: this FD / the first config's - 1 "
            "(negative is better).\n");
    if (diff[0]) fprintf(md, "\nThe configs also differ outside [decoder]/[loss]/[attention]:\n\n```\n%s```\n", diff);
    fprintf(md, "\n![samples](ablation.png)\n");
    fprintf(js, "  ]\n}\n");
    pd_status st = pd_tmp_commit_stream(md, tmp_md, path);
    pd_status st2 = pd_tmp_commit_stream(js, tmp_js, path_js);
    return st ? st : st2;
}

#define ABLATE_OUT_MAX 800

/* "name" of "dir/name.ini" into buf. */
static void config_label(const char *path, char *buf, size_t size) {
    const char *nm = base_name(path);
    snprintf(buf, size, "%.*s", (int)strcspn(nm, "."), nm);
}

/* DIR/<i>-<name>/seed<seed> */
static void run_dir_of(const pd_ablate_opts *o, int i, int seed, char *buf, size_t size) {
    char label[128];
    config_label(o->names[i], label, sizeof label);
    snprintf(buf, size, "%s/%d-%s/seed%d", o->out_dir, i, label, seed);
}

/* One run of config i with a seed: read from its record when there is one
 * for these settings (copied into RESULTS when missing there), else trained
 * (or continued) and recorded. */
static pd_status ensure_run(ablation *a, int i, int seed, run_result *r) {
    const pd_ablate_opts *o = a->o;
    char dir[1024], rec[1100], res[1300] = "", sub[1100], label[128], key[20], legacy[20];
    config_label(o->names[i], label, sizeof label);
    run_dir_of(o, i, seed, dir, sizeof dir);
    snprintf(rec, sizeof rec, "%s/result.json", dir);
    if (o->results_dir) {
        snprintf(sub, sizeof sub, "%s/%s", o->results_dir, label);
        snprintf(res, sizeof res, "%s/seed%d.json", sub, seed);
    }
    run_key(o, &a->cfgs[i], seed, KEY_CURRENT, key, sizeof key);
    run_key(o, &a->cfgs[i], seed, KEY_LEGACY, legacy, sizeof legacy);
    /* the folder is named by the config's position: continue this run
     * where an earlier call put it, not from step 0 beside it */
    struct stat sb;
    char moved[1024];
    if (stat(dir, &sb) && pd_ablate_find_moved_run(o->out_dir, label, seed, key, legacy, moved, sizeof moved)) {
        if (o->verbose)
            fprintf(stderr, "pixeldit: ablate: %s seed %d: continuing its folder %s (listed at another position "
                    "before)\n", label, seed, moved);
        snprintf(dir, sizeof dir, "%s", moved);
        snprintf(rec, sizeof rec, "%s/result.json", dir);
    }
    /* the config as trained (as records store it), to recognise records
     * made under an older key rule; step budgets only (the key also holds
     * the kind of budget, which the text does not) */
    char *trained = o->steps > 0 ? trained_text(&a->cfgs[i], seed) : NULL;
    bool recorded = res[0] && read_record(res, key, trained, o->ema, o->steps, r);
    bool done = !recorded && read_record(rec, key, trained, o->ema, o->steps, r);
    /* a folder made before the key rule changed ([sample] left the key):
     * its record, of fewer steps, still stores this config as trained */
    run_result prior;
    bool same_config = !recorded && !done && trained && read_record(rec, key, trained, o->ema, 0, &prior);
    free(trained);
    if (recorded) {
        if (o->verbose) fprintf(stderr, "pixeldit: %s seed %d: recorded in %s\n", label, seed, res);
        return PD_OK;
    }
    pd_status st = PD_OK;
    if (!done) {
        if ((st = pd_eval_make_dir(dir))) return st;
        if (o->verbose) fprintf(stderr, "pixeldit: ablate: %s, seed %d -> %s\n", o->names[i], seed, dir);
        if ((st = train_run(a, i, seed, dir, key, legacy, rec, same_config))) return st;
        if (!read_record(rec, key, NULL, o->ema, o->steps, r))
            return pd_fail(PD_ERR_FORMAT, "%s: the record just written cannot be read back", rec);
        if (o->verbose)
            fprintf(stderr, "pixeldit: %s seed %d: FD %.3f, KID %.5f, class accuracy %.3f, grid score %.3f\n",
                    label, seed, r->fd, r->kid, r->class_acc, r->grid);
    } else if (o->verbose) {
        fprintf(stderr, "pixeldit: %s seed %d: done before (%s)\n", label, seed, rec);
    }
    if (res[0] && ((st = pd_eval_make_dir(sub)) || (st = copy_file(rec, res)))) return st;
    return PD_OK;
}

/* The configs as ablate trains them: the protocol of the first config's
 * [eval] (with the command line's overrides) in every one, curves every
 * eval_every steps (or only at the end). */
static void prepare_configs(const pd_ablate_opts *o, pd_config *cfgs) {
    pd_config_eval e = o->configs[0].eval;
    if (o->n > 0) e.n = (int)o->n;
    if (o->sampler >= 0) e.sampler = (pd_sampler_kind)o->sampler;
    if (o->sample_steps > 0) e.steps = o->sample_steps;
    if (o->cfg_scale >= 0) e.cfg = o->cfg_scale;
    e.seed = o->seed0;
    e.weights = PD_EVAL_BOTH;
    if (o->eval_every > 0) e.every = (int)o->eval_every;
    else if (e.every <= 0) e.every = INT_MAX; /* one point, at the last step */
    for (int i = 0; i < o->n_configs; i++) {
        cfgs[i] = o->configs[i];
        cfgs[i].eval = e;
        cfgs[i].train.epochs = 0;       /* the budget decides */
        cfgs[i].train.sample_every = 0;
        cfgs[i].train.final_grid = false; /* the montage comes from the evaluation's samples */
    }
}

/* The montage's images of a run: the first `keep` samples of its last
 * evaluation (RUN/eval_samples.safetensors). */
static bool read_grid(const char *dir, float *g, int keep, int C, int S) {
    char ck[1100];
    snprintf(ck, sizeof ck, "%s/eval_samples.safetensors", dir);
    pd_st_file *f;
    int shp[4] = {keep, C, S, S};
    if (pd_st_open(ck, &f) != PD_OK) return false;
    bool ok = pd_st_read_f32(f, "samples", g, shp, 4) == PD_OK;
    pd_st_close(f);
    return ok;
}

pd_status pd_ablate_run(const pd_ablate_opts *o) {
    if (o->n_configs < 1 || o->seeds < 1 || (o->minutes > 0) == (o->steps > 0))
        return pd_fail(PD_ERR_ARG, "ablate: needs configs, seeds >= 1 and one budget (--minutes or --steps)");
    if (o->n != 0 && (o->n < 8 || o->n > 100000))
        return pd_fail(PD_ERR_ARG, "ablate: --n: expected 8 .. 100000 images, got %ld", o->n);
    /* every path below is out_dir plus at most ~160 bytes, in 1024-byte buffers */
    if (!o->out_dir || strlen(o->out_dir) > ABLATE_OUT_MAX)
        return pd_fail(PD_ERR_ARG, "ablate: --out: expected a folder path of at most %d bytes, found %zu",
                       ABLATE_OUT_MAX, o->out_dir ? strlen(o->out_dir) : (size_t)0);
    if (o->results_dir && strlen(o->results_dir) > ABLATE_OUT_MAX)
        return pd_fail(PD_ERR_ARG, "ablate: --results: expected a folder path of at most %d bytes",
                       ABLATE_OUT_MAX);
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
    if (!st && o->results_dir) st = pd_eval_make_dir(o->results_dir);
    if (st) return st;
    ablation a = {.o = o};
    if (!(a.cfgs = calloc((size_t)o->n_configs, sizeof *a.cfgs))) return pd_fail(PD_ERR_NOMEM, "ablate: out of memory");
    prepare_configs(o, a.cfgs);
    const pd_config_eval *e = &a.cfgs[0].eval;
    pd_set_num_threads(o->threads > 0 ? o->threads : c0->train.threads);
    if ((st = pd_eval_ref_open(&a.ref, c0, c0->model.patch_size))) {
        free(a.cfgs);
        return st;
    }
    int C = c0->model.channels, S = c0->model.image_size, K = c0->model.num_classes;
    size_t per = (size_t)C * S * S;
    int cols = K < 10 ? K : 10; /* samples are class i mod K: one column per class when K <= 10 */
    int keep = GRID_ROWS * cols < e->n ? GRID_ROWS * cols : e->n;
    summary *sm = calloc((size_t)o->n_configs, sizeof *sm);
    float **grids = calloc((size_t)o->n_configs, sizeof *grids);
    int *n_grid = calloc((size_t)o->n_configs, sizeof *n_grid);
    double *fd = malloc((size_t)o->seeds * sizeof(double)), *acc = malloc((size_t)o->seeds * sizeof(double));
    if (!sm || !grids || !n_grid || !fd || !acc) st = pd_fail(PD_ERR_NOMEM, "ablate: out of memory");
    if (!st) st = pd_eval_fd_floor(&a.ref, e->n, 1, &a.floor_fd);
    if (!st) st = ceiling(&a, &a.ceil_fd);
    run_result *rr = calloc((size_t)o->n_configs * o->seeds, sizeof *rr);
    if (!rr && !st) st = pd_fail(PD_ERR_NOMEM, "ablate: out of memory");
    /* seed-major: a study stopped part-way has every config at the first seeds */
    for (int k = 0; k < o->seeds && !st && !g_stop; k++)
        for (int i = 0; i < o->n_configs && !st && !g_stop; i++)
            st = ensure_run(&a, i, o->seed0 + k, &rr[(size_t)i * o->seeds + k]);
    for (int i = 0; i < o->n_configs && !st && !g_stop; i++) {
        if (!(grids[i] = calloc((size_t)keep * per, sizeof(float)))) {
            st = pd_fail(PD_ERR_NOMEM, "ablate: out of memory");
            break;
        }
        char dir[1024];
        run_dir_of(o, i, o->seed0, dir, sizeof dir);
        n_grid[i] = read_grid(dir, grids[i], keep, C, S) ? keep : 0;
        double grid = 0, ips = 0, steps = 0, kid = 0, fd_rand = 0;
        for (int k = 0; k < o->seeds; k++) {
            const run_result *r = &rr[(size_t)i * o->seeds + k];
            fd[k] = r->fd, acc[k] = r->class_acc;
            grid += r->grid / o->seeds, ips += r->train_ips / o->seeds, steps += (double)r->steps / o->seeds;
            kid += r->kid / o->seeds, fd_rand += r->fd_rand / o->seeds;
        }
        sm[i].first = rr[(size_t)i * o->seeds];
        sm[i].fd = mean_of(fd, o->seeds), sm[i].fd_sd = sd_of(fd, o->seeds);
        sm[i].acc = mean_of(acc, o->seeds), sm[i].acc_sd = sd_of(acc, o->seeds);
        sm[i].grid = grid, sm[i].ips = ips, sm[i].steps = steps, sm[i].kid = kid, sm[i].fd_rand = fd_rand;
    }
    free(rr);
    if (!st && g_stop) st = pd_fail(PD_ERR_INTERRUPTED, "ablate: interrupted; run the same command again to resume");
    if (!st) {
        size_t need = pd_ablate_config_diff(o->configs, o->n_configs, NULL, 0);
        char *diff = malloc(need + 1);
        if (!diff) st = pd_fail(PD_ERR_NOMEM, "ablate: out of memory");
        else {
            pd_ablate_config_diff(o->configs, o->n_configs, diff, need + 1);
            if (diff[0] && o->verbose) fprintf(stderr, "pixeldit: the configs also differ in:\n%s", diff);
            st = write_reports(&a, sm, diff);
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
    free(grids), free(n_grid), free(sm), free(fd), free(acc), free(a.cfgs);
    pd_eval_ref_close(&a.ref);
    return st;
}
