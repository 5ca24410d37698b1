/* The feature network: a small CNN classifier whose penultimate layer gives
 * the features of the Frechet distance, and whose logits give the class
 * accuracy of samples.
 *
 *   x (B, C, S, S)
 *   conv1 3x3 C->16, pad 1, SiLU, maxpool 2   (B, 16, S/2, S/2)
 *   conv2 3x3 16->32, pad 1, SiLU, maxpool 2  (B, 32, S/4, S/4)
 *   conv3 3x3 32->64, pad 1, SiLU, maxpool 2  (B, 64, S/8, S/8)
 *   flatten, fc1 -> 128, SiLU                 (B, 128)  <- features
 *   fc2 -> K                                  (B, K)    <- logits
 *
 * Sized so that training on 60000 images takes a few minutes on 2 cores. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"
#include "pixeldit/ops.h"
#include "pixeldit/params.h"
#include "pixeldit/rng.h"
#include "pixeldit/runtime.h"
#include "pixeldit/safetensors.h"
#include "pixeldit/train.h"

enum { C1 = 16, C2 = 32, C3 = 64 };

struct pd_featnet {
    pd_featnet_key key;
    pd_params *params;
    pd_tensor *w1, *b1, *w2, *b2, *w3, *b3, *fw1, *fb1, *fw2, *fb2;
    int flat;          /* C3 * (S/8)^2 */
    pd_ctx *ctx;       /* for pd_featnet_apply */
};

uint64_t pd_fnv1a(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

pd_featnet_train_opts pd_featnet_train_defaults(void) {
    return (pd_featnet_train_opts){.epochs = 4, .batch = 128, .lr = 2e-3, .seed = 0, .limit = 0,
                                   .progress = false};
}

void pd_featnet_key_of(const pd_dataset *train, const char *name, pd_featnet_key *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->dataset, sizeof out->dataset, "%s", name);
    out->channels = train->channels;
    out->size = train->size;
    out->num_classes = train->num_classes;
    size_t per = (size_t)train->channels * train->size * train->size;
    uint64_t h = pd_fnv1a(PD_FNV_OFFSET, train->pixels, (size_t)train->n * per);
    out->data_hash = pd_fnv1a(h, train->labels, (size_t)train->n * sizeof(int));
}

const pd_featnet_key *pd_featnet_get_key(const pd_featnet *net) { return &net->key; }

/* torch's default init for conv and linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * for weights and biases. */
static void init_uniform(pd_rng *rng, pd_tensor *t, int fan_in) {
    float b = 1.0f / sqrtf((float)fan_in);
    pd_rng_fill_uniform(rng, t->data, t->numel, -b, b);
}

pd_featnet *pd_featnet_new(const pd_featnet_key *key, uint64_t seed) {
    if (key->channels < 1 || key->size < 8 || key->num_classes < 2) {
        pd_fail(PD_ERR_ARG, "feature network: needs images of at least 8x8 and 2 classes, got %dx%d "
                "with %d channels and %d classes", key->size, key->size, key->channels, key->num_classes);
        return NULL;
    }
    pd_featnet *n = calloc(1, sizeof *n);
    if (!n || !(n->params = pd_params_new()) || !(n->ctx = pd_ctx_new(0))) {
        pd_featnet_free(n);
        pd_fail(PD_ERR_NOMEM, "feature network: out of memory");
        return NULL;
    }
    n->key = *key;
    int C = key->channels, K = key->num_classes, s8 = key->size / 2 / 2 / 2;
    n->flat = C3 * s8 * s8;
    pd_params *p = n->params;
    n->w1 = pd_params_add(p, "conv1.weight", (int[]){C1, C, 3, 3}, 4, 0);
    n->b1 = pd_params_add(p, "conv1.bias", (int[]){C1}, 1, 0);
    n->w2 = pd_params_add(p, "conv2.weight", (int[]){C2, C1, 3, 3}, 4, 0);
    n->b2 = pd_params_add(p, "conv2.bias", (int[]){C2}, 1, 0);
    n->w3 = pd_params_add(p, "conv3.weight", (int[]){C3, C2, 3, 3}, 4, 0);
    n->b3 = pd_params_add(p, "conv3.bias", (int[]){C3}, 1, 0);
    n->fw1 = pd_params_add(p, "fc1.weight", (int[]){PD_FEATNET_DIM, n->flat}, 2, 0);
    n->fb1 = pd_params_add(p, "fc1.bias", (int[]){PD_FEATNET_DIM}, 1, 0);
    n->fw2 = pd_params_add(p, "fc2.weight", (int[]){K, PD_FEATNET_DIM}, 2, 0);
    n->fb2 = pd_params_add(p, "fc2.bias", (int[]){K}, 1, 0);
    if (!n->fb2) {
        pd_featnet_free(n);
        return NULL;
    }
    pd_rng rng;
    pd_rng_seed(&rng, seed);
    int fan[] = {C * 9, C * 9, C1 * 9, C1 * 9, C2 * 9, C2 * 9, n->flat, n->flat, PD_FEATNET_DIM,
                 PD_FEATNET_DIM};
    for (int i = 0; i < pd_params_count(p); i++) init_uniform(&rng, pd_params_at(p, i), fan[i]);
    return n;
}

void pd_featnet_free(pd_featnet *n) {
    if (!n) return;
    pd_params_free(n->params);
    pd_ctx_free(n->ctx);
    free(n);
}

/* conv 3x3 (pad 1) + SiLU + maxpool: (B, Ci, H, W) -> (B, Co, H/2, W/2) */
static pd_tensor *conv_block(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b) {
    return pd_maxpool2x2(ctx, pd_silu(ctx, pd_conv2d(ctx, x, w, b, 1, 1)));
}

pd_tensor *pd_featnet_forward(pd_featnet *n, pd_ctx *ctx, pd_tensor *x, pd_tensor **features) {
    if (!x) return NULL;
    int B = x->shape[0];
    pd_tensor *h = conv_block(ctx, x, n->w1, n->b1);    /* (B, 16, S/2, S/2) */
    h = conv_block(ctx, h, n->w2, n->b2);                 /* (B, 32, S/4, S/4) */
    h = conv_block(ctx, h, n->w3, n->b3);                 /* (B, 64, S/8, S/8) */
    h = pd_reshape(ctx, h, (int[]){B, n->flat}, 2);       /* (B, flat) */
    pd_tensor *f = pd_silu(ctx, pd_linear(ctx, h, n->fw1, n->fb1)); /* (B, 128) */
    if (features) *features = f;
    return pd_linear(ctx, f, n->fw2, n->fb2);             /* (B, K) */
}

/* Chunked no-grad forward over n images. */
pd_status pd_featnet_apply(pd_featnet *n, const float *imgs, int count, float *features,
                           float *logits) {
    const int chunk = 256, K = n->key.num_classes;
    size_t per = (size_t)n->key.channels * n->key.size * n->key.size;
    pd_ctx *ctx = n->ctx;
    bool was = pd_ctx_set_grad_enabled(ctx, false);
    pd_status st = PD_OK;
    for (int i0 = 0; i0 < count && !st; i0 += chunk) {
        int b = count - i0 < chunk ? count - i0 : chunk;
        pd_ctx_reset(ctx);
        pd_tensor *x = pd_tensor_from(ctx, imgs + (size_t)i0 * per,
                                      (int[]){b, n->key.channels, n->key.size, n->key.size}, 4);
        pd_tensor *f = NULL, *z = pd_featnet_forward(n, ctx, x, &f);
        if (!z) {
            st = pd_fail(pd_ctx_status(ctx) ? pd_ctx_status(ctx) : PD_ERR_ARG, "feature network: %s",
                         pd_ctx_error(ctx));
            break;
        }
        if (features) memcpy(features + (size_t)i0 * PD_FEATNET_DIM, f->data, f->numel * sizeof(float));
        if (logits) memcpy(logits + (size_t)i0 * K, z->data, z->numel * sizeof(float));
    }
    pd_ctx_reset(ctx);
    pd_ctx_set_grad_enabled(ctx, was);
    return st;
}

static bool key_equal(const pd_featnet_key *a, const pd_featnet_key *b) {
    return !strcmp(a->dataset, b->dataset) && a->data_hash == b->data_hash &&
           a->channels == b->channels && a->size == b->size && a->num_classes == b->num_classes;
}

static pd_status test_accuracy(pd_featnet *n, const pd_dataset *test, double *acc) {
    size_t per = (size_t)test->channels * test->size * test->size;
    int K = n->key.num_classes, chunk = 1000, correct = 0;
    float *x = malloc((size_t)chunk * per * sizeof(float)), *z = malloc((size_t)chunk * K * sizeof(float));
    int *idx = malloc((size_t)chunk * sizeof(int)), *y = malloc((size_t)chunk * sizeof(int));
    pd_status st = (x && z && idx && y) ? PD_OK : pd_fail(PD_ERR_NOMEM, "feature network: out of memory");
    for (int i0 = 0; i0 < test->n && !st; i0 += chunk) {
        int b = test->n - i0 < chunk ? test->n - i0 : chunk;
        for (int i = 0; i < b; i++) idx[i] = i0 + i;
        if ((st = pd_dataset_batch(test, idx, b, NULL, x, y))) break;
        if ((st = pd_featnet_apply(n, x, b, NULL, z))) break;
        correct += (int)lround(pd_class_accuracy(z, y, b, K) * b);
    }
    *acc = test->n ? (double)correct / test->n : 0;
    free(x), free(z), free(idx), free(y);
    return st;
}

pd_status pd_featnet_train(pd_featnet *n, const pd_dataset *train, const pd_dataset *test,
                           const pd_featnet_train_opts *o, double *test_acc) {
    if (train->channels != n->key.channels || train->size != n->key.size ||
        train->num_classes > n->key.num_classes)
        return pd_fail(PD_ERR_ARG, "feature network: training data (%d channels, %dpx, %d classes) does "
                       "not fit the network (%d, %dpx, %d)", train->channels, train->size,
                       train->num_classes, n->key.channels, n->key.size, n->key.num_classes);
    int N = o->limit > 0 && o->limit < train->n ? o->limit : train->n, B = o->batch;
    if (B < 1 || N < B || o->epochs < 1)
        return pd_fail(PD_ERR_ARG, "feature network: batch %d, %d images, %d epochs", B, N, o->epochs);
    size_t per = (size_t)train->channels * train->size * train->size;
    pd_adamw_config ac = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-4f};
    pd_adamw *opt = pd_adamw_new(n->params, &ac);
    pd_ctx *ctx = pd_ctx_new(0);
    float *x = malloc((size_t)B * per * sizeof(float));
    int *idx = malloc((size_t)B * sizeof(int)), *y = malloc((size_t)B * sizeof(int));
    pd_shuffler shuf = {0};
    pd_status st = (opt && ctx && x && idx && y) ? pd_shuffler_init(&shuf, N, o->seed * 2 + 1)
                                                 : pd_fail(PD_ERR_NOMEM, "feature network: out of memory");
    long steps_per_epoch = N / B, total = steps_per_epoch * o->epochs, warm = total / 50 + 1;
    double t0 = pd_now_seconds(), last = t0;
    float loss_avg = 0;
    for (long step = 0; step < total && !st; step++) {
        /* linear warm-up, then cosine to 0 */
        double lr = step < warm ? o->lr * (step + 1) / warm
                                : o->lr * 0.5 * (1 + cos(M_PI * (step - warm) / (double)(total - warm)));
        if ((st = pd_shuffler_next(&shuf, idx, B, NULL))) break;
        if ((st = pd_dataset_batch(train, idx, B, NULL, x, y))) break;
        pd_ctx_reset(ctx);
        pd_tensor *xt = pd_tensor_from(ctx, x, (int[]){B, train->channels, train->size, train->size}, 4);
        pd_tensor *loss = pd_eval_cross_entropy(ctx, pd_featnet_forward(n, ctx, xt, NULL), y);
        if (!loss) {
            st = pd_fail(pd_ctx_status(ctx), "feature network: %s", pd_ctx_error(ctx));
            break;
        }
        pd_params_zero_grad(n->params);
        if ((st = pd_backward(ctx, loss))) {
            st = pd_fail(st, "feature network: %s", pd_ctx_error(ctx));
            break;
        }
        if ((st = pd_adamw_step(opt, (float)lr, NULL))) break;
        loss_avg = step ? 0.98f * loss_avg + 0.02f * loss->data[0] : loss->data[0];
        double now = pd_now_seconds();
        if (o->progress && (now - last > 2 || step + 1 == total)) {
            last = now;
            double rate = (step + 1) * (double)B / (now - t0), eta = (total - step - 1) * (double)B / rate;
            fprintf(stderr, "feature network: epoch %ld/%d step %ld/%ld loss %.4f | %.0f img/s | ETA %.0fs\n",
                    step / steps_per_epoch + 1, o->epochs, step + 1, total, (double)loss_avg, rate, eta);
        }
    }
    pd_shuffler_free(&shuf);
    pd_adamw_free(opt);
    pd_ctx_free(ctx);
    free(x), free(idx), free(y);
    if (!st && test && test_acc) st = test_accuracy(n, test, test_acc);
    return st;
}

pd_status pd_featnet_save(const pd_featnet *n, const char *path, double test_acc) {
    pd_st_writer *w = pd_st_writer_new();
    if (!w) return pd_fail(PD_ERR_NOMEM, "feature network: out of memory");
    pd_status st = PD_OK;
    for (int i = 0; i < pd_params_count(n->params) && !st; i++) {
        pd_tensor *t = pd_params_at(n->params, i);
        st = pd_st_writer_add(w, t->name, PD_ST_F32, t->shape, t->ndim, t->data);
    }
    char buf[64];
    const pd_featnet_key *k = &n->key;
    if (!st) st = pd_st_writer_set_metadata(w, "format", PD_FEATNET_FORMAT);
    if (!st) st = pd_st_writer_set_metadata(w, "dataset", k->dataset);
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)k->data_hash);
    if (!st) st = pd_st_writer_set_metadata(w, "data_hash", buf);
    snprintf(buf, sizeof buf, "%d", k->channels);
    if (!st) st = pd_st_writer_set_metadata(w, "channels", buf);
    snprintf(buf, sizeof buf, "%d", k->size);
    if (!st) st = pd_st_writer_set_metadata(w, "image_size", buf);
    snprintf(buf, sizeof buf, "%d", k->num_classes);
    if (!st) st = pd_st_writer_set_metadata(w, "num_classes", buf);
    snprintf(buf, sizeof buf, "%.6f", test_acc);
    if (!st) st = pd_st_writer_set_metadata(w, "test_accuracy", buf);
    if (!st) st = pd_st_writer_write(w, path);
    pd_st_writer_free(w);
    return st;
}

/* A whole, in-range decimal int from metadata; false otherwise. */
static bool meta_int(const pd_st_file *f, const char *key, int lo, int hi, int *out) {
    const char *v = pd_st_metadata(f, key);
    char *end;
    if (!v) return false;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > hi) return false;
    *out = (int)x;
    return true;
}

pd_status pd_featnet_load(const char *path, const pd_featnet_key *expect, pd_featnet **out,
                          double *test_acc) {
    *out = NULL;
    pd_st_file *f;
    pd_status st = pd_st_open(path, &f);
    if (st) return st;
    pd_featnet_key k = {0};
    const char *fmt = pd_st_metadata(f, "format"), *ds = pd_st_metadata(f, "dataset");
    const char *hash = pd_st_metadata(f, "data_hash"), *acc = pd_st_metadata(f, "test_accuracy");
    char *end = NULL;
    if (!fmt || strcmp(fmt, PD_FEATNET_FORMAT)) {
        st = pd_fail(PD_ERR_FORMAT, "%s: not a feature network (metadata format is '%s', expected '%s')",
                     path, fmt ? fmt : "(none)", PD_FEATNET_FORMAT);
        goto done;
    }
    if (!ds || strlen(ds) >= sizeof k.dataset || !hash ||
        !meta_int(f, "channels", 1, 4, &k.channels) || !meta_int(f, "image_size", 8, 4096, &k.size) ||
        !meta_int(f, "num_classes", 2, 100000, &k.num_classes)) {
        st = pd_fail(PD_ERR_FORMAT, "%s: feature network metadata incomplete or out of range "
                     "(dataset, data_hash, channels, image_size, num_classes)", path);
        goto done;
    }
    snprintf(k.dataset, sizeof k.dataset, "%s", ds);
    k.data_hash = strtoull(hash, &end, 16);
    if (end == hash || *end) {
        st = pd_fail(PD_ERR_FORMAT, "%s: data_hash '%s' is not hexadecimal", path, hash);
        goto done;
    }
    if (expect && !key_equal(&k, expect)) {
        st = pd_fail(PD_ERR_FORMAT, "%s: feature network is for %s (%dx%d, %d channels, %d classes, data "
                     "hash %016llx), not for %s (%dx%d, %d channels, %d classes, data hash %016llx); "
                     "retrain it with `pixeldit eval --train-features`",
                     path, k.dataset, k.size, k.size, k.channels, k.num_classes,
                     (unsigned long long)k.data_hash, expect->dataset, expect->size, expect->size,
                     expect->channels, expect->num_classes, (unsigned long long)expect->data_hash);
        goto done;
    }
    pd_featnet *n = pd_featnet_new(&k, 0);
    if (!n) {
        st = PD_ERR_NOMEM;
        goto done;
    }
    if (pd_st_count(f) != pd_params_count(n->params)) {
        st = pd_fail(PD_ERR_FORMAT, "%s: %d tensors, a feature network has %d", path, pd_st_count(f),
                     pd_params_count(n->params));
        pd_featnet_free(n);
        goto done;
    }
    for (int i = 0; i < pd_params_count(n->params) && !st; i++) {
        pd_tensor *t = pd_params_at(n->params, i);
        st = pd_st_read_f32(f, t->name, t->data, t->shape, t->ndim);
        for (size_t j = 0; !st && j < t->numel; j++)
            if (!isfinite(t->data[j])) st = pd_fail(PD_ERR_FORMAT, "%s: %s holds a non-finite value", path, t->name);
    }
    if (st) {
        pd_featnet_free(n);
        goto done;
    }
    if (test_acc) *test_acc = acc ? strtod(acc, NULL) : -1;
    *out = n;
done:
    pd_st_close(f);
    return st;
}

pd_status pd_featnet_cache_path(const pd_featnet_key *key, char *buf, size_t size, bool create) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[900];
    if (xdg && xdg[0] == '/') snprintf(dir, sizeof dir, "%s/pixeldit", xdg);
    else if (home && home[0]) snprintf(dir, sizeof dir, "%s/.cache/pixeldit", home);
    else return pd_fail(PD_ERR_IO, "no cache folder: neither XDG_CACHE_HOME nor HOME is set");
    if (create) {
        pd_status st = pd_eval_make_dir(dir);
        if (st) return st;
    }
    /* the name may come from a folder name: keep it to [A-Za-z0-9._-] */
    char name[64];
    size_t i = 0;
    for (; key->dataset[i] && i + 1 < sizeof name; i++) {
        char c = key->dataset[i];
        name[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' ? c : '_';
    }
    name[i] = '\0';
    int w = snprintf(buf, size, "%s/featnet-%s-%dpx.safetensors", dir, name, key->size);
    if (w < 0 || (size_t)w >= size) return pd_fail(PD_ERR_ARG, "cache path too long: %s", dir);
    return PD_OK;
}
