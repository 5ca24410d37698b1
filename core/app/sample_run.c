/* Class-conditional sample grids: rows are classes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pixeldit/data.h"
#include "pixeldit/runtime.h"
#include "pixeldit/trainer.h"

void pd_sample_config_from(const pd_config *cfg, pd_sample_config *o) {
    *o = (pd_sample_config){.sampler = cfg->sample.sampler,
                            .steps = cfg->sample.steps,
                            .cfg_scale = (float)cfg->sample.cfg,
                            .cfg_low = (float)cfg->sample.cfg_interval_low,
                            .cfg_high = (float)cfg->sample.cfg_interval_high,
                            .t_eps = (float)cfg->diffusion.t_eps,
                            .noise_scale = (float)cfg->diffusion.noise_scale,
                            .schedule = cfg->sample.schedule,
                            .P_mean = (float)cfg->diffusion.P_mean,
                            .P_std = (float)cfg->diffusion.P_std};
}

/* Progress of a sampling run, in images: the current batch counts by the
 * fraction of its ODE steps done. */
typedef struct {
    int n, done, batch;   /* images in all, in finished batches, in this batch */
    int nfe;              /* network evaluations per image (before CFG doubling) */
    double t0, last_shown;
} progress_state;

static void fmt_duration(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, cap, "--:--");
    else if (s >= 3600) snprintf(buf, cap, "%d:%02d:%02d", (int)(s / 3600), (int)fmod(s / 60, 60), (int)fmod(s, 60));
    else snprintf(buf, cap, "%02d:%02d", (int)(s / 60), (int)fmod(s, 60));
}

static void show_progress(int step, int total, void *user) {
    progress_state *p = user;
    double now = pd_now_seconds();
    if (step < total && now - p->last_shown < 0.25) return;
    p->last_shown = now;
    double done = p->done + (double)p->batch * step / (total > 0 ? total : 1);
    double rate = now > p->t0 ? done / (now - p->t0) : 0;
    char eta[32];
    fmt_duration(rate > 0 ? (p->n - done) / rate : -1, eta, sizeof eta);
    fprintf(stderr, "\rsampling: %d/%d images | %.1f images/s, %d NFE/image | ETA %s   ", (int)done, p->n, rate,
            p->nfe, eta);
    fflush(stderr);
}

pd_status pd_sample_grid(pd_session *s, const pd_sample_config *sc, const int *classes,
                         int n_classes, int per_class, uint64_t seed, const char *grid_path,
                         const char *dir, bool progress) {
    const pd_jit_config *jc = pd_jit_get_config(s->model);
    int n = n_classes * per_class;
    size_t per = (size_t)jc->channels * jc->image_size * jc->image_size;
    float *imgs = malloc((size_t)n * per * sizeof(float));
    int *labels = malloc((size_t)n * sizeof(int));
    pd_ctx *ctx = pd_session_new_ctx(s);
    pd_status st = PD_OK;
    if (!imgs || !labels || !ctx) {
        st = pd_fail(PD_ERR_NOMEM, "sample: out of memory for %d images", n);
        goto done;
    }
    if ((st = pd_ctx_set_precision(ctx, sc->precision))) goto done;
    for (int i = 0; i < n; i++) labels[i] = classes[i / per_class];
    pd_rng rng;
    pd_rng_seed(&rng, seed);
    /* Batches of at most 64 images keep the activations small; the noise
     * stream is drawn image by image, so results do not depend on it. */
    const int chunk = 64;
    progress_state ps = {.n = n, .nfe = pd_sampler_nfe(sc->sampler, sc->steps), .t0 = pd_now_seconds()};
    bool show = progress && isatty(STDERR_FILENO);
    for (int i0 = 0; i0 < n && !st; i0 += chunk) {
        int b = n - i0 < chunk ? n - i0 : chunk;
        ps.batch = b;
        st = pd_sample(s->model, ctx, sc, labels + i0, b, &rng, imgs + (size_t)i0 * per,
                       show ? show_progress : NULL, &ps);
        ps.done += b;
    }
    if (show) fprintf(stderr, "\n");
    /* NaN would be written as black pixels: a broken checkpoint must fail */
    for (size_t k = 0; !st && k < (size_t)n * per; k++)
        if (!isfinite(imgs[k]))
            st = pd_fail(PD_ERR_NUMERIC, "sample: image %zu is not finite (NaN or inf): the "
                         "weights are broken (a checkpoint of a diverged run?); nothing written",
                         k / per);
    /* Off a terminal (logs, pipes): one line at the end instead. */
    double secs = pd_now_seconds() - ps.t0;
    if (progress && !st)
        fprintf(stderr, "sampling: %d images in %.1f s (%.1f images/s, %d NFE/image)\n", n, secs,
                secs > 0 ? n / secs : 0.0, ps.nfe);
    if (!st && grid_path)
        st = pd_image_grid_write(grid_path, imgs, n, jc->channels, jc->image_size, jc->image_size,
                                 per_class, 2);
    if (!st && dir) st = pd_image_folder_write(dir, imgs, n, jc->channels, jc->image_size, jc->image_size, 0);
done:
    pd_ctx_free(ctx);
    free(imgs);
    free(labels);
    return st;
}

bool pd_ema_young_note(const pd_config *cfg, int which, long long step, char *buf, size_t size) {
    if (which != 1 && which != 2) return false;
    double decay = which == 1 ? cfg->train.ema_decay1 : cfg->train.ema_decay2;
    double left = pd_ema_initial_share(decay, cfg->train.ema_warmup ? cfg->train.ema_warmup_gamma : 0, step > 0 ? step : 0);
    if (left < 0.05) return false;
    snprintf(buf, size,
             "EMA %d (decay %g) still holds %.0f%% of the initial weights after %lld steps, so "
             "its samples look fainter than the raw weights do; train longer, or sample those "
             "(pixeldit sample --ema 0)",
             which, decay, 100 * left, step);
    return true;
}
