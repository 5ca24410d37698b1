/* Evaluation of generated images against the real data: reference
 * statistics, FD, class accuracy, grid score, the FD floor, sampling and
 * the JSON record. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval_internal.h"
#include "io/file_open.h"
#include "pixeldit/limits.h"
#include "pixeldit/runtime.h"
#include "pixeldit/trainer.h"

pd_status pd_eval_make_dir(const char *path) {
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return pd_fail(PD_ERR_ARG, "%s: path too long", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            return pd_fail(PD_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return pd_fail(PD_ERR_IO, "%s: cannot create directory: %s", path, strerror(errno));
    return PD_OK;
}

pd_status pd_eval_load_data(const pd_config *cfg, pd_dataset **train, pd_dataset **test, char *name,
                            size_t name_size) {
    *train = *test = NULL;
    pd_dataset_opts opts = {.image_size = cfg->model.image_size, .channels = cfg->model.channels,
                            .fit = cfg->data.fit};
    const char *path = cfg->data.path, *base = strrchr(path, '/');
    base = base && base[1] ? base + 1 : path;
    pd_status st;
    if (cfg->data.source == PD_DATA_IDX) {
        snprintf(name, name_size, "%s-%s", base, cfg->data.fit == PD_FIT_PAD ? "pad" : "resize");
        st = pd_dataset_load_fashion_mnist(path, true, &opts, train);
        if (!st) st = pd_dataset_load_fashion_mnist(path, false, &opts, test);
    } else if (cfg->data.source == PD_DATA_PACKED) {
        /* a packed file has one split too; mapped twice, shared pages */
        snprintf(name, name_size, "%s", base);
        st = pd_dataset_open_packed(path, cfg->data.verify, train);
        if (!st) st = pd_dataset_open_packed(path, false, test);
    } else {
        /* a PNG folder has one split: it is its own reference */
        snprintf(name, name_size, "%s", base);
        st = pd_dataset_load_folder(path, &opts, train);
        if (!st) st = pd_dataset_load_folder(path, &opts, test);
    }
    if (st) {
        pd_dataset_free(*train);
        pd_dataset_free(*test);
        *train = *test = NULL;
    }
    return st;
}

/* Features (n, 128) of images [i0, i0 + n) of ds; into a malloc'd buffer. */
static pd_status dataset_features(pd_featnet *net, const pd_dataset *ds, const int *order, long n,
                                  float **feats) {
    size_t per = (size_t)ds->channels * ds->size * ds->size;
    const int chunk = 1000;
    *feats = malloc((size_t)n * PD_FEATNET_DIM * sizeof(float));
    float *x = malloc((size_t)chunk * per * sizeof(float));
    int *idx = malloc((size_t)chunk * sizeof(int));
    pd_status st = (*feats && x && idx) ? PD_OK : pd_fail(PD_ERR_NOMEM, "eval: out of memory");
    for (long i0 = 0; i0 < n && !st; i0 += chunk) {
        int b = n - i0 < chunk ? (int)(n - i0) : chunk;
        for (int i = 0; i < b; i++) idx[i] = order ? order[i0 + i] : (int)(i0 + i);
        st = pd_dataset_batch(ds, idx, b, NULL, x, NULL);
        if (!st) st = pd_featnet_apply(net, x, b, *feats + (size_t)i0 * PD_FEATNET_DIM, NULL);
    }
    free(x), free(idx);
    if (st) {
        free(*feats);
        *feats = NULL;
    }
    return st;
}

/* Per-dimension mean and 1/sd (population sd; 1 where a dimension is
 * constant) of features f (n, PD_FEATNET_DIM), in double. */
static void standardiser_fit(const float *f, long n, double *mu, double *inv_sd) {
    for (int j = 0; j < PD_FEATNET_DIM; j++) {
        double m = 0, q = 0;
        for (long i = 0; i < n; i++) m += f[(size_t)i * PD_FEATNET_DIM + j];
        m /= (double)n;
        for (long i = 0; i < n; i++) {
            double d = f[(size_t)i * PD_FEATNET_DIM + j] - m;
            q += d * d;
        }
        double sd = sqrt(q / (double)n);
        mu[j] = m, inv_sd[j] = sd > 0 ? 1 / sd : 1;
    }
}

static void standardise(float *f, long n, const double *mu, const double *inv_sd) {
    for (long i = 0; i < n; i++)
        for (int j = 0; j < PD_FEATNET_DIM; j++) {
            float *v = &f[(size_t)i * PD_FEATNET_DIM + j];
            *v = (float)((*v - mu[j]) * inv_sd[j]);
        }
}

pd_status pd_eval_ref_open(pd_eval_ref *r, const pd_config *cfg, int patch) {
    memset(r, 0, sizeof *r);
    r->patch = patch;
    char name[64], path[1024];
    pd_status st = pd_eval_load_data(cfg, &r->train, &r->test, name, sizeof name);
    if (st) return st;
    pd_featnet_key key;
    pd_featnet_key_of(r->train, name, &key);
    if ((st = pd_featnet_cache_path(&key, path, sizeof path, false))) goto fail;
    struct stat sb;
    if (stat(path, &sb)) {
        st = pd_fail(PD_ERR_IO, "no feature network for %s at %dx%d yet (%s is missing); train it once "
                     "with `pixeldit eval --train-features --config CONFIG` (a few minutes)",
                     name, key.size, key.size, path);
        goto fail;
    }
    if ((st = pd_featnet_load(path, &key, &r->net, &r->featnet_acc))) goto fail;
    if (!(r->rand_net = pd_featnet_new(&key, PD_EVAL_RAND_SEED))) {
        st = PD_ERR_NOMEM;
        goto fail;
    }
    /* the test split in both feature spaces: Gaussian statistics for FD,
     * kernel sums for KID, rows for precision/recall */
    if ((st = dataset_features(r->net, r->test, NULL, r->test->n, &r->test_feats))) goto fail;
    if ((st = dataset_features(r->rand_net, r->test, NULL, r->test->n, &r->rand_feats))) goto fail;
    /* an untrained network's features have no common scale (tiny, and
     * different per dimension): standardise each dimension with the test
     * split's mean and sd, the same map for samples (docs/eval.md) */
    standardiser_fit(r->rand_feats, r->test->n, r->rand_mu, r->rand_inv_sd);
    standardise(r->rand_feats, r->test->n, r->rand_mu, r->rand_inv_sd);
    if ((st = pd_gauss_stats_compute(r->test_feats, r->test->n, PD_FEATNET_DIM, &r->test_stats))) goto fail;
    if ((st = pd_gauss_stats_compute(r->rand_feats, r->test->n, PD_FEATNET_DIM, &r->rand_stats))) goto fail;
    if ((st = pd_kid_self_sum(r->test_feats, r->test->n, PD_FEATNET_DIM, &r->kid_yy))) goto fail;
    if ((st = pd_kid_self_sum(r->rand_feats, r->test->n, PD_FEATNET_DIM, &r->rand_kid_yy))) goto fail;
    /* reference grid score on (at most) the first 5000 test images */
    long nref = r->test->n < 5000 ? r->test->n : 5000;
    size_t per = (size_t)r->test->channels * r->test->size * r->test->size;
    float *x = malloc((size_t)nref * per * sizeof(float));
    int *idx = malloc((size_t)nref * sizeof(int));
    if (!x || !idx) st = pd_fail(PD_ERR_NOMEM, "eval: out of memory");
    for (long i = 0; !st && i < nref; i++) idx[i] = (int)i;
    if (!st) st = pd_dataset_batch(r->test, idx, (int)nref, NULL, x, NULL);
    if (!st) st = pd_patch_grid_score(x, (int)nref, r->test->channels, r->test->size, r->test->size, patch,
                                      &r->grid_score_real);
    free(x), free(idx);
    if (st) goto fail;
    return PD_OK;
fail:
    pd_eval_ref_close(r);
    return st;
}

void pd_eval_ref_close(pd_eval_ref *r) {
    pd_featnet_free(r->net);
    pd_featnet_free(r->rand_net);
    pd_gauss_stats_free(&r->rand_stats);
    free(r->test_feats);
    free(r->rand_feats);
    pd_dataset_free(r->train);
    pd_dataset_free(r->test);
    pd_gauss_stats_free(&r->test_stats);
    memset(r, 0, sizeof *r);
}

/* FD, KID, precision and recall of features f (n, PD_FEATNET_DIM) in one
 * space, whose test-split rows, statistics and KID sum are given. */
static pd_status score_space(const float *f, long n, const float *test_f, long n_test,
                             const pd_gauss_stats *test_stats, double kid_yy, pd_eval_space *out) {
    pd_gauss_stats gs = {0};
    pd_status st = pd_gauss_stats_compute(f, n, PD_FEATNET_DIM, &gs);
    if (!st) st = pd_frechet_distance(&gs, test_stats, &out->fd);
    pd_gauss_stats_free(&gs);
    if (!st) st = pd_kid_with_ref(f, n, test_f, n_test, PD_FEATNET_DIM, kid_yy, &out->kid);
    long npr = n < n_test ? n : n_test;
    if (npr > PD_EVAL_PR_MAX) npr = PD_EVAL_PR_MAX;
    out->precision = out->recall = -1; /* too few images for k-NN manifolds */
    if (!st && npr > PD_EVAL_PR_K)
        st = pd_precision_recall(test_f, npr, f, npr, PD_FEATNET_DIM, PD_EVAL_PR_K, &out->precision,
                                 &out->recall);
    return st;
}

pd_status pd_eval_images(pd_eval_ref *r, const float *imgs, long n, const int *labels,
                         pd_eval_result *out) {
    const pd_featnet_key *k = pd_featnet_get_key(r->net);
    if (n < 2) return pd_fail(PD_ERR_ARG, "eval: needs at least 2 images, got %ld", n);
    float *f = malloc((size_t)n * PD_FEATNET_DIM * sizeof(float));
    float *g = malloc((size_t)n * PD_FEATNET_DIM * sizeof(float));
    float *z = malloc((size_t)n * k->num_classes * sizeof(float));
    pd_status st = (f && g && z) ? pd_featnet_apply(r->net, imgs, (int)n, f, z)
                                 : pd_fail(PD_ERR_NOMEM, "eval: out of memory for %ld images", n);
    if (!st) st = pd_featnet_apply(r->rand_net, imgs, (int)n, g, NULL);
    if (!st) standardise(g, n, r->rand_mu, r->rand_inv_sd);
    if (!st) st = score_space(f, n, r->test_feats, r->test->n, &r->test_stats, r->kid_yy, &out->cls);
    if (!st) st = score_space(g, n, r->rand_feats, r->test->n, &r->rand_stats, r->rand_kid_yy, &out->rnd);
    if (!st) st = pd_patch_grid_score(imgs, (int)n, k->channels, k->size, k->size, r->patch, &out->grid_score);
    if (!st) {
        out->n = n;
        out->fd = out->cls.fd;
        out->class_acc = labels ? pd_class_accuracy(z, labels, (int)n, k->num_classes) : -1;
        out->grid_score_real = r->grid_score_real;
        out->featnet_acc = r->featnet_acc;
    }
    free(f), free(g), free(z);
    return st;
}

pd_status pd_eval_fd_floor(pd_eval_ref *r, long n, uint64_t seed, double *out) {
    if (n > r->train->n) n = r->train->n;
    int *order = malloc((size_t)r->train->n * sizeof(int));
    if (!order) return pd_fail(PD_ERR_NOMEM, "eval: out of memory");
    for (int i = 0; i < r->train->n; i++) order[i] = i;
    pd_rng rng;
    pd_rng_seed(&rng, seed);
    for (int i = r->train->n - 1; i > 0; i--) {
        int j = (int)pd_rng_below(&rng, (uint32_t)i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    float *f = NULL;
    pd_gauss_stats gs = {0};
    pd_status st = dataset_features(r->net, r->train, order, n, &f);
    if (!st) st = pd_gauss_stats_compute(f, n, PD_FEATNET_DIM, &gs);
    if (!st) st = pd_frechet_distance(&gs, &r->test_stats, out);
    pd_gauss_stats_free(&gs);
    free(f), free(order);
    return st;
}

typedef struct {
    pd_eval_progress_fn fn;
    void *user;
    long done, total;
    double t0;
} sample_progress;

pd_status pd_eval_sample(struct pd_session *s, const struct pd_sample_config *sc, long n, uint64_t seed,
                         float *imgs, int *labels, pd_eval_progress_fn progress, void *user) {
    const pd_jit_config *jc = pd_jit_get_config(s->model);
    size_t per = (size_t)jc->channels * jc->image_size * jc->image_size;
    int K = jc->num_classes;
    for (long i = 0; i < n; i++) labels[i] = (int)(i % K);
    pd_ctx *ctx = pd_session_new_ctx(s);
    if (!ctx) return pd_fail(PD_ERR_NOMEM, "eval: out of memory");
    pd_rng rng;
    pd_rng_seed(&rng, seed);
    const int chunk = 64; /* as pd_sample_grid: the noise is drawn image by image */
    double t0 = pd_now_seconds();
    pd_status st = PD_OK;
    for (long i0 = 0; i0 < n && !st; i0 += chunk) {
        int b = n - i0 < chunk ? (int)(n - i0) : chunk;
        st = pd_sample(s->model, ctx, sc, labels + i0, b, &rng, imgs + (size_t)i0 * per, NULL, NULL);
        if (progress) progress("sampling", i0 + b, n, pd_now_seconds() - t0, user);
    }
    pd_ctx_free(ctx);
    /* NaN or huge weights give non-finite images, which would only surface
     * later as an eigen-solver failure that names no cause */
    for (size_t k = 0; !st && k < (size_t)n * per; k++)
        if (!isfinite(imgs[k]))
            st = pd_fail(PD_ERR_NUMERIC, "eval: sampled image %zu is not finite (NaN or inf): the "
                         "model's weights are not finite or too large (a diverged run?)", k / per);
    return st;
}

pd_status pd_eval_write_json(const char *path, const pd_eval_result *r, const char *source,
                             const char *sampler, int steps, double cfg, int ema, uint64_t seed) {
    char tmp[PD_MAX_PATH + 32];
    int fd = pd_tmp_create(path, tmp, sizeof tmp);
    if (fd < 0) return PD_ERR_IO;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        pd_tmp_abandon(fd, tmp);
        return pd_fail(PD_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    }
    fprintf(f, "{\n  \"source\": \"");
    for (const char *c = source; *c; c++) {
        if (*c == '"' || *c == '\\') fputc('\\', f);
        if ((unsigned char)*c >= 0x20) fputc(*c, f);
    }
    fprintf(f, "\",\n  \"n\": %ld,\n", r->n);
    if (sampler) fprintf(f, "  \"sampler\": \"%s\",\n  \"steps\": %d,\n  \"cfg\": %.6g,\n  \"ema\": %d,\n  \"seed\": %llu,\n",
                         sampler, steps, cfg, ema, (unsigned long long)seed);
    pd_sampler_kind kind;
    if (sampler && pd_sampler_from_name(sampler, &kind) == PD_OK)
        fprintf(f, "  \"nfe\": %d,\n", pd_sampler_nfe(kind, steps)); /* network evaluations per image */
    fprintf(f, "  \"fd\": %.6f,\n", r->fd);
    const pd_eval_space *sp[2] = {&r->cls, &r->rnd};
    const char *sfx[2] = {"", "_rand"};
    for (int i = 0; i < 2; i++) {
        if (i) fprintf(f, "  \"fd_rand\": %.6f,\n", sp[i]->fd);
        fprintf(f, "  \"kid%s\": %.8f,\n", sfx[i], sp[i]->kid);
        if (sp[i]->precision >= 0)
            fprintf(f, "  \"precision%s\": %.6f,\n  \"recall%s\": %.6f,\n", sfx[i], sp[i]->precision, sfx[i],
                    sp[i]->recall);
    }
    if (r->class_acc >= 0) fprintf(f, "  \"class_accuracy\": %.6f,\n", r->class_acc);
    else fprintf(f, "  \"class_accuracy\": null,\n");
    fprintf(f, "  \"grid_score\": %.6f,\n  \"grid_score_real\": %.6f,\n", r->grid_score, r->grid_score_real);
    if (r->fd_floor >= 0) fprintf(f, "  \"fd_floor\": %.6f,\n", r->fd_floor);
    if (r->fd_ceiling >= 0) fprintf(f, "  \"fd_ceiling\": %.6f,\n", r->fd_ceiling);
    fprintf(f, "  \"featnet_test_accuracy\": %.6f,\n  \"seconds\": %.3f,\n  \"sample_images_per_s\": %.3f\n}\n",
            r->featnet_acc, r->seconds, r->images_per_s);
    return pd_tmp_commit_stream(f, tmp, path);
}
