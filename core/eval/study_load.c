/* Loading a study from its folder of run records and bench files
 * (study.h). Every file is data: a record that does not parse or lacks a
 * field is refused naming the file and what was expected. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/file_open.h"
#include "io/json.h"
#include "study.h"

const char *const study_metric_key[N_METRICS] = {"fd", "kid", "fd_rand", "precision", "recall", "class_acc",
                                                 "grid_score"};
const char *const study_metric_label[N_METRICS] = {"FD", "KID", "FD (random net)", "precision", "recall",
                                                   "class accuracy", "grid score"};

enum { FILE_MAX = 1 << 22 }; /* a record is tens of KB; refuse anything far larger */

/* Reads a whole regular file (at most FILE_MAX bytes) and parses it. */
static pd_status parse_file(const char *path, pd_json_doc **doc) {
    FILE *f = pd_fopen_regular(path, "study file", PD_ERR_IO);
    if (!f) return PD_ERR_IO;
    char *text = malloc(FILE_MAX);
    size_t len = text ? fread(text, 1, FILE_MAX, f) : 0;
    bool big = text && len == FILE_MAX;
    fclose(f);
    if (!text) return pd_fail(PD_ERR_NOMEM, "%s: out of memory", path);
    if (big) {
        free(text);
        return pd_fail(PD_ERR_FORMAT, "%s: larger than %d bytes; not a run record", path, FILE_MAX);
    }
    char err[200];
    *doc = pd_json_parse_full(text, len, err, sizeof err);
    free(text);
    return *doc ? PD_OK : pd_fail(PD_ERR_FORMAT, "%s: not JSON: %s", path, err);
}

static pd_status need_number(const char *path, const pd_json *o, const char *key, double *v) {
    return pd_json_get_number(o, key, v) ? PD_OK
                                         : pd_fail(PD_ERR_FORMAT, "%s: expected a number \"%s\"", path, key);
}

static int by_seed(const void *a, const void *b) {
    return ((const study_run *)a)->seed - ((const study_run *)b)->seed;
}

/* One record into c (the config's fields from the first) and a new run. */
static pd_status load_record(const char *path, const char *weights, study *s, study_config *c) {
    pd_json_doc *doc;
    pd_status st = parse_file(path, &doc);
    if (st) return st;
    const pd_json *root = pd_json_root(doc), *curve = pd_json_get(root, "curve");
    const char *fmt = pd_json_get_string(root, "format");
    study_run *r = NULL;
    double seed = 0, steps = 0, batch = 0;
    if (!fmt || strcmp(fmt, "pixeldit-run-1"))
        st = pd_fail(PD_ERR_FORMAT, "%s: expected \"format\": \"pixeldit-run-1\"", path);
    if (!st && (!curve || curve->type != PD_JSON_ARRAY))
        st = pd_fail(PD_ERR_FORMAT, "%s: expected an array \"curve\"", path);
    if (!st) st = need_number(path, root, "seed", &seed);
    if (!st) st = need_number(path, root, "steps", &steps);
    if (!st) st = need_number(path, root, "batch_size", &batch);
    if (!st && c->n_runs >= STUDY_MAX_SEEDS) st = pd_fail(PD_ERR_FORMAT, "%s: more than %d seeds", path, STUDY_MAX_SEEDS);
    if (!st) {
        study_run *grown = realloc(c->runs, (size_t)(c->n_runs + 1) * sizeof *grown);
        if (!grown) st = pd_fail(PD_ERR_NOMEM, "%s: out of memory", path);
        else c->runs = grown, r = &grown[c->n_runs], memset(r, 0, sizeof *r);
    }
    for (const pd_json *row = st ? NULL : curve->child; row && !st; row = row->next) {
        const char *w = pd_json_get_string(row, "weights");
        if (!w || strcmp(w, weights)) continue;
        if (r->n_points == STUDY_MAX_POINTS) {
            st = pd_fail(PD_ERR_FORMAT, "%s: more than %d curve points", path, STUDY_MAX_POINTS);
            break;
        }
        int p = r->n_points++;
        if ((st = need_number(path, row, "step", &r->step[p]))) break;
        for (int m = 0; m < N_METRICS; m++)
            if (!pd_json_get_number(row, study_metric_key[m], &r->v[m][p])) r->v[m][p] = NAN;
    }
    if (!st && r->n_points == 0) st = pd_fail(PD_ERR_FORMAT, "%s: no curve point of the %s weights", path, weights);
    if (!st) {
        r->seed = (int)seed, r->steps = (long)steps;
        const char *commit = pd_json_get_string(root, "commit");
        snprintf(r->commit, sizeof r->commit, "%s", commit ? commit : "?");
        const pd_json *m = pd_json_get(root, "machine");
        const char *cpu = pd_json_get_string(m, "cpu"), *kernel = pd_json_get_string(m, "kernel");
        const char *blas = pd_json_get_string(m, "blas_core");
        double threads = 0;
        pd_json_get_number(m, "threads", &threads);
        snprintf(r->machine, sizeof r->machine, "%s, Linux %s, %d threads, OpenBLAS %s", cpu ? cpu : "?",
                 kernel ? kernel : "?", (int)threads, blas ? blas : "?");
        if (!pd_json_get_number(root, "fd_floor", &r->fd_floor)) r->fd_floor = NAN;
        if (!pd_json_get_number(root, "fd_ceiling", &r->fd_ceiling)) r->fd_ceiling = NAN;
        if (c->n_runs == 0) {
            const char *dec = pd_json_get_string(root, "decoder"), *los = pd_json_get_string(root, "losses");
            snprintf(c->decoder, sizeof c->decoder, "%s", dec ? dec : "?");
            snprintf(c->losses, sizeof c->losses, "%s", los ? los : "?");
            pd_json_get_number(root, "parameters", &c->params);
            pd_json_get_number(root, "flops_per_image", &c->flops);
            const pd_json *pr = pd_json_get(root, "protocol");
            double n = 0, ss = 0, nfe = 0, cfg = 0, sseed = 0;
            const char *sampler = pd_json_get_string(pr, "sampler");
            pd_json_get_number(pr, "n", &n), pd_json_get_number(pr, "steps", &ss);
            pd_json_get_number(pr, "nfe", &nfe), pd_json_get_number(pr, "cfg", &cfg);
            pd_json_get_number(pr, "seed", &sseed);
            if (!s->protocol[0])
                snprintf(s->protocol, sizeof s->protocol, "n %.0f, %s %.0f steps (%.0f NFE), cfg %g, sampling seed %.0f",
                         n, sampler ? sampler : "?", ss, nfe, cfg, sseed);
            s->batch_size = (int)batch;
        }
        c->n_runs++;
    }
    pd_json_free(doc);
    return st;
}

static double median(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1], v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* dir/bench/<config>[.round].json: "train": {"median_s"} per file. The
 * baseline's step time is the median over its files; another config's is
 * that times the median of its ratio to the baseline within each round (the
 * files of the same .round tag), since the machine's speed drifts between
 * rounds far more than configs differ within one (docs/benchmarks.md,
 * machine D); the median of its own files when no round pairs up. */
#define BENCH_MAX_FILES 64
static double paired_step_time(double (*times)[BENCH_MAX_FILES], char (*tags)[BENCH_MAX_FILES][32],
                               const int *n, int i, double base) {
    double ratio[BENCH_MAX_FILES];
    int k = 0;
    for (int a = 0; a < n[i]; a++)
        for (int b = 0; b < n[0]; b++)
            if (!strcmp(tags[i][a], tags[0][b])) {
                ratio[k++] = times[i][a] / times[0][b];
                break;
            }
    return k ? base * median(ratio, k) : median(times[i], n[i]);
}

static pd_status load_bench(const char *dir, study *s) {
    char bdir[700];
    snprintf(bdir, sizeof bdir, "%s/bench", dir);
    DIR *d = opendir(bdir);
    if (!d) return PD_OK; /* no step times: no equal-compute view */
    static double times[STUDY_MAX_CONFIGS][BENCH_MAX_FILES];
    static char tags[STUDY_MAX_CONFIGS][BENCH_MAX_FILES][32];
    pd_status st = PD_OK;
    for (struct dirent *e; !st && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json")) continue;
        char path[1000];
        snprintf(path, sizeof path, "%s/%s", bdir, e->d_name);
        for (int i = 0; i < s->n_configs; i++) {
            study_config *c = &s->configs[i];
            size_t nl = strlen(c->name);
            if (strncmp(e->d_name, c->name, nl) || (e->d_name[nl] != '.')) continue;
            pd_json_doc *doc;
            if ((st = parse_file(path, &doc))) break;
            const pd_json *root = pd_json_root(doc), *train = pd_json_get(root, "train");
            double t;
            if (!pd_json_get_number(train, "median_s", &t) || !(t > 0))
                st = pd_fail(PD_ERR_FORMAT, "%s: expected \"train\": {\"median_s\": seconds > 0}", path);
            else if (c->bench_files < BENCH_MAX_FILES) {
                /* the round tag: what lies between the name and ".json" */
                snprintf(tags[i][c->bench_files], sizeof tags[i][0], "%.*s", (int)(len - 5 - nl),
                         e->d_name + nl);
                times[i][c->bench_files++] = t;
                const pd_json *m = pd_json_get(root, "machine");
                const char *cpu = pd_json_get_string(m, "cpu"), *blas = pd_json_get_string(root, "blas_core");
                double threads = 0;
                pd_json_get_number(root, "threads", &threads);
                snprintf(c->bench_machine, sizeof c->bench_machine, "%s, %d threads, OpenBLAS %s", cpu ? cpu : "?",
                         (int)threads, blas ? blas : "?");
            }
            pd_json_free(doc);
            break;
        }
    }
    closedir(d);
    int n[STUDY_MAX_CONFIGS] = {0};
    for (int i = 0; i < s->n_configs; i++) n[i] = s->configs[i].bench_files;
    double sorted[BENCH_MAX_FILES]; /* median() sorts: keep times[0] beside its tags */
    memcpy(sorted, times[0], sizeof sorted);
    double base = !st && n[0] ? median(sorted, n[0]) : 0;
    for (int i = 1; i < s->n_configs && !st && n[0]; i++)
        if (n[i]) s->configs[i].step_time = paired_step_time(times, tags, n, i, base);
    if (!st && n[0]) s->configs[0].step_time = base;
    return st;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const study_config *)a)->name, ((const study_config *)b)->name);
}

pd_status study_load(const char *dir, const char *baseline, const char *weights, study *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", dir);
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    snprintf(s->name, sizeof s->name, "%.*s", (int)strcspn(base, "/"), base);
    if (!baseline) baseline = s->name;
    DIR *d = opendir(dir);
    if (!d) return pd_fail(PD_ERR_IO, "%s: cannot open the study folder", dir);
    pd_status st = PD_OK;
    for (struct dirent *e; !st && (e = readdir(d));) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "bench")) continue;
        char sub[700];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        DIR *cd = opendir(sub);
        if (!cd) continue; /* a file beside the config folders */
        study_config *c = &s->configs[s->n_configs];
        memset(c, 0, sizeof *c);
        snprintf(c->name, sizeof c->name, "%.63s", e->d_name);
        for (struct dirent *f; !st && (f = readdir(cd));) {
            size_t len = strlen(f->d_name);
            if (strncmp(f->d_name, "seed", 4) || len < 6 || strcmp(f->d_name + len - 5, ".json")) continue;
            char path[1000];
            snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
            st = load_record(path, weights, s, c);
        }
        closedir(cd);
        if (!st && c->n_runs) {
            qsort(c->runs, (size_t)c->n_runs, sizeof *c->runs, by_seed);
            if (++s->n_configs == STUDY_MAX_CONFIGS) break;
        } else {
            free(c->runs);
        }
    }
    closedir(d);
    if (st) {
        study_free(s);
        return st;
    }
    int b = -1;
    for (int i = 0; i < s->n_configs; i++)
        if (!strcmp(s->configs[i].name, baseline)) b = i;
    if (b < 0) {
        study_free(s);
        return pd_fail(PD_ERR_ARG, "%s: no records of the baseline config '%s' (expected %s/%s/seed*.json)", dir,
                       baseline, dir, baseline);
    }
    study_config t = s->configs[0];
    s->configs[0] = s->configs[b], s->configs[b] = t;
    qsort(s->configs + 1, (size_t)s->n_configs - 1, sizeof *s->configs, by_name);
    st = load_bench(dir, s);
    if (st) study_free(s);
    return st;
}

void study_free(study *s) {
    for (int i = 0; i < s->n_configs; i++) free(s->configs[i].runs);
    s->n_configs = 0;
}
