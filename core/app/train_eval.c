/* Evaluation points during training: eval.csv (train_eval.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/jit.h"
#include "pixeldit/runtime.h"
#include "pixeldit/safetensors.h"
#include "pixeldit/trainer.h"
#include "run_dir.h"
#include "train_eval.h"

const char pd_train_eval_header[] =
    "step,images,train_seconds,train_gflops,weights,n,sampler,sample_steps,nfe,cfg,"
    "fd,kid,precision,recall,fd_rand,kid_rand,precision_rand,recall_rand,class_acc,grid_score,"
    "eval_seconds";

pd_status pd_train_eval_open(pd_train_eval *te, const pd_session *s, const char *run_dir, bool resume,
                             int64_t resume_step) {
    memset(te, 0, sizeof *te);
    const pd_config *cfg = &s->cfg;
    if (cfg->eval.every <= 0) return PD_OK;
    size_t len = strlen(run_dir) + sizeof "/eval.csv";
    if (!(te->path = malloc(len))) return pd_fail(PD_ERR_NOMEM, "eval: out of memory");
    snprintf(te->path, len, "%s/eval.csv", run_dir);
    size_t per = (size_t)cfg->model.channels * cfg->model.image_size * cfg->model.image_size;
    te->imgs = malloc((size_t)cfg->eval.n * per * sizeof(float));
    te->labels = malloc((size_t)cfg->eval.n * sizeof(int));
    if (!te->imgs || !te->labels) {
        pd_train_eval_close(te);
        return pd_fail(PD_ERR_NOMEM, "[eval] n = %d: out of memory for the samples", cfg->eval.n);
    }
    te->train_flops_per_image = 3 * pd_jit_flops_per_image(s->model);
    pd_status st = pd_eval_ref_open(&te->ref, cfg, cfg->model.patch_size);
    if (st) {
        pd_train_eval_close(te);
        return st;
    }
    te->ref_open = true;
    te->last_step = resume ? resume_step : -1;
    /* a resumed run keeps the rows its checkpoint holds */
    if ((st = pd_run_dir_check_appended(te->path)) ||
        (resume && (st = pd_run_dir_cut_log(te->path, resume_step)))) {
        pd_train_eval_close(te);
        return st;
    }
    bool fresh = !resume;
    if (!fresh) {
        FILE *f = fopen(te->path, "r");
        if (f) fclose(f);
        else fresh = true;
    }
    if (!(te->csv = fopen(te->path, fresh ? "w" : "a"))) {
        st = pd_fail(PD_ERR_IO, "%s: cannot open for writing: %s", te->path, strerror(errno));
        pd_train_eval_close(te);
        return st;
    }
    if (fresh && ((st = pd_log_printf(te->csv, te->path, "%s\n", pd_train_eval_header)) ||
                  (st = pd_log_flush(te->csv, te->path)))) {
        pd_train_eval_close(te);
        return st;
    }
    return PD_OK;
}

/* RUN/eval_samples.safetensors: "samples" (keep, C, S, S), the first
 * keep = min(n, 4 * min(classes, 10)) images (4 rows of classes). */
static pd_status keep_samples(pd_train_eval *te, const pd_session *s) {
    const pd_config *cfg = &s->cfg;
    int K = cfg->model.num_classes < 10 ? cfg->model.num_classes : 10;
    int keep = 4 * K < cfg->eval.n ? 4 * K : cfg->eval.n;
    int shape[4] = {keep, cfg->model.channels, cfg->model.image_size, cfg->model.image_size};
    size_t len = strlen(te->path) + sizeof "_samples.safetensors";
    char *path = malloc(len);
    pd_st_writer *w = pd_st_writer_new();
    pd_status st = path && w ? PD_OK : pd_fail(PD_ERR_NOMEM, "eval: out of memory");
    if (!st) {
        snprintf(path, len, "%.*s_samples.safetensors", (int)(strlen(te->path) - 4), te->path);
        st = pd_st_writer_add(w, "samples", PD_ST_F32, shape, 4, te->imgs);
    }
    if (!st) st = pd_st_writer_write(w, path);
    pd_st_writer_free(w);
    free(path);
    return st;
}

static pd_status one_row(pd_train_eval *te, pd_session *s, const char *weights, int64_t step, int64_t images,
                         double train_seconds, bool verbose) {
    const pd_config_eval *e = &s->cfg.eval;
    pd_sample_config sc;
    pd_sample_config_from(&s->cfg, &sc);
    sc.sampler = e->sampler;
    sc.steps = e->steps;
    sc.cfg_scale = (float)e->cfg;
    double t0 = pd_now_seconds();
    pd_eval_result r = {0};
    pd_status st = pd_eval_sample(s, &sc, e->n, (uint64_t)e->seed, te->imgs, te->labels, NULL, NULL);
    if (!st) st = pd_eval_images(&te->ref, te->imgs, e->n, te->labels, &r);
    if (st) return st;
    double secs = pd_now_seconds() - t0;
    st = pd_log_printf(te->csv, te->path,
                       "%lld,%lld,%.3f,%.6g,%s,%d,%s,%d,%d,%.4g,%.7g,%.7g,%.6f,%.6f,%.7g,%.7g,%.6f,%.6f,%.6f,%.6g,%.3f\n",
                       (long long)step, (long long)images, train_seconds,
                       te->train_flops_per_image * (double)images / 1e9, weights, e->n,
                       pd_sampler_name(e->sampler), e->steps, pd_sampler_nfe(e->sampler, e->steps),
                       e->cfg, r.cls.fd, r.cls.kid, r.cls.precision, r.cls.recall, r.rnd.fd, r.rnd.kid,
                       r.rnd.precision, r.rnd.recall, r.class_acc, r.grid_score, secs);
    /* the first rows of classes of the first weights evaluated: what ablate's montage shows */
    bool first = strcmp(weights, "ema1") == 0 || s->cfg.eval.weights == PD_EVAL_RAW;
    if (!st && first) st = keep_samples(te, s);
    if (!st && verbose)
        fprintf(stderr, "pixeldit: eval step %lld (%s): FD %.2f, KID %.4f, precision %.3f, recall %.3f, "
                "FD(random net) %.3g, class acc %.3f (%.1f s)\n", (long long)step, weights, r.cls.fd,
                r.cls.kid, r.cls.precision, r.cls.recall, r.rnd.fd, r.class_acc, secs);
    return st;
}

pd_status pd_train_eval_point(pd_train_eval *te, pd_session *s, pd_ema *ema1, int64_t step,
                              int64_t images_seen, double train_seconds, bool verbose, double *seconds) {
    double t0 = pd_now_seconds();
    *seconds = 0;
    if (!te->csv || step == te->last_step) return PD_OK;
    pd_eval_weights w = s->cfg.eval.weights;
    pd_status st = PD_OK;
    if (w != PD_EVAL_RAW) {
        pd_ema_swap(ema1);
        st = one_row(te, s, "ema1", step, images_seen, train_seconds, verbose);
        pd_ema_swap(ema1);
    }
    if (!st && w != PD_EVAL_EMA1) st = one_row(te, s, "raw", step, images_seen, train_seconds, verbose);
    if (!st) st = pd_log_flush(te->csv, te->path);
    if (!st) te->last_step = step;
    *seconds = pd_now_seconds() - t0;
    return st;
}

void pd_train_eval_close(pd_train_eval *te) {
    if (te->csv) fclose(te->csv);
    if (te->ref_open) pd_eval_ref_close(&te->ref);
    free(te->path);
    free(te->imgs);
    free(te->labels);
    memset(te, 0, sizeof *te);
}
