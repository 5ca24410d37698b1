/* The training loop: data, noising, forward, losses, backward, AdamW, two
 * EMAs, logging, checkpoints, sample grids, clean stops. Data-parallel
 * under MPI (pixeldit/dist.h): every rank runs this loop on its shard of
 * each global batch; rank 0 alone writes the run folder and the progress. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pixeldit/plugin_record.h"
#include "pixeldit/checkpoint.h"
#include "pixeldit/data.h"
#include "pixeldit/dist.h"
#include "pixeldit/plot.h"
#include "pixeldit/runtime.h"
#include "pixeldit/trainer.h"
#include "run_dir.h"
#include "train_eval.h"
#include "train_step.h"

static volatile sig_atomic_t g_stop;
/* 1 while steps run: from then on a stop saves a checkpoint first. Before,
 * nothing has been written that a stop could lose. */
static volatile sig_atomic_t g_in_loop;
int pd_train_request_stop(void) {
    g_stop = 1;
    return g_in_loop;
}

/* [data] skip_corrupt: one warning line per skipped file (verbose runs). */
static void warn_skipped(void *verbose, const char *msg) {
    if (*(const bool *)verbose) fprintf(stderr, "pixeldit: warning: skipped %s\n", msg);
}

static pd_status load_data(const pd_config *cfg, bool verbose, pd_dataset **ds) {
    pd_dataset_opts opts = {.image_size = cfg->model.image_size, .channels = cfg->model.channels,
                            .fit = cfg->data.fit, .skip_corrupt = cfg->data.skip_corrupt,
                            .on_skip = warn_skipped, .skip_user = &verbose,
                            .stream = cfg->data.stream};
    pd_status s;
    if (cfg->data.stream && cfg->data.source != PD_DATA_FOLDER)
        return pd_fail(PD_ERR_CONFIG, "[data] stream = true needs source = folder (a packed file is "
                       "already read on demand through mmap; IDX files are small)");
    if (cfg->data.source == PD_DATA_IDX)
        s = pd_dataset_load_fashion_mnist(cfg->data.path, cfg->data.split == PD_SPLIT_TRAIN, &opts, ds);
    else if (cfg->data.source == PD_DATA_PACKED)
        s = pd_dataset_open_packed(cfg->data.path, cfg->data.verify, ds);
    else
        s = pd_dataset_load_folder(cfg->data.path, &opts, ds);
    if (s) return s;
    if ((*ds)->skipped && verbose)
        fprintf(stderr, "pixeldit: warning: %s: skipped %d corrupt images, training on %d\n",
                cfg->data.path, (*ds)->skipped, (*ds)->n);
    if ((*ds)->channels != cfg->model.channels || (*ds)->size != cfg->model.image_size)
        return pd_fail(PD_ERR_CONFIG, "[data] %s holds %dx%dx%d images but [model] wants channels = %d, "
                       "image_size = %d (pack it again with those)", cfg->data.path,
                       (*ds)->channels, (*ds)->size, (*ds)->size, cfg->model.channels,
                       cfg->model.image_size);
    if ((*ds)->num_classes > cfg->model.num_classes)
        return pd_fail(PD_ERR_CONFIG, "[data] %s has %d classes but [model] num_classes = %d",
                       cfg->data.path, (*ds)->num_classes, cfg->model.num_classes);
    if (cfg->data.limit > 0 && cfg->data.limit < (*ds)->n) (*ds)->n = cfg->data.limit;
    if ((*ds)->n < cfg->train.batch_size)
        return pd_fail(PD_ERR_CONFIG, "[train] batch_size %d is larger than the data set (%d images)",
                       cfg->train.batch_size, (*ds)->n);
    return PD_OK;
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    int h = (int)(s / 3600), m = (int)(fmod(s, 3600) / 60), sec = (int)fmod(s, 60);
    if (h) snprintf(buf, n, "%d:%02d:%02d", h, m, sec);
    else snprintf(buf, n, "%02d:%02d", m, sec);
}

typedef struct {
    pd_session s;
    pd_dataset *ds;
    pd_trainer tr;         /* AdamW, EMAs, RNG streams (tr.st), shard, step context, batch buffers */
    pd_shuffler shuf;
    pd_loader *loader;  /* the shuffler's batches, maybe prefetched */
    double data_seconds; /* spent in pd_loader_next, this session */
    char *config_text;
    FILE *csv;
    pd_run_dir dir;
    int n_parts[PD_SESSION_MAX_LOSSES]; /* loss parts with a log.csv column, per loss */
    pd_train_eval te;      /* [eval] every: eval.csv (rank 0) */
    double paused;         /* seconds of this session spent evaluating and drawing grids */
} run;

/* log.csv columns: step, epoch, total loss, lr, each loss plugin
 * (unweighted), each part a loss reported in the first step
 * ("freq_loss.freq"), images/s. */
static pd_status csv_header(run *r, const char *path) {
    pd_status s = pd_log_printf(r->csv, path, "step,epoch,loss,lr");
    for (int i = 0; i < r->s.n_losses && !s; i++)
        s = pd_log_printf(r->csv, path, ",%s", pd_plugin_name(r->s.loss[i]));
    for (int i = 0; i < r->s.n_losses; i++)
        for (int j = 0; j < r->n_parts[i] && !s; j++)
            s = pd_log_printf(r->csv, path, ",%s.%s", pd_plugin_name(r->s.loss[i]),
                              r->s.loss_parts[i].name[j]);
    return s ? s : pd_log_printf(r->csv, path, ",images_per_s\n");
}

/* One log.csv row, in csv_header's columns; every write checked. */
static pd_status csv_row(run *r, const char *path, int64_t step, int64_t epoch, float loss,
                         float lr, const float *parts, float img_s) {
    pd_status s = pd_log_printf(r->csv, path, "%lld,%lld,%.6f,%.6g", (long long)step,
                                (long long)epoch, (double)loss, (double)lr);
    for (int i = 0; i < r->s.n_losses && !s; i++) s = pd_log_printf(r->csv, path, ",%.6f", (double)parts[i]);
    for (int i = 0; i < r->s.n_losses; i++)
        for (int j = 0; j < r->n_parts[i] && !s; j++)
            s = j < r->s.loss_parts[i].n
                    ? pd_log_printf(r->csv, path, ",%.6f", (double)r->s.loss_parts[i].value[j])
                    : pd_log_printf(r->csv, path, ",");
    return s ? s : pd_log_printf(r->csv, path, ",%.2f\n", (double)img_s);
}

/* " | freq_loss.freq 0.0123" per part of the last step, for the progress line. */
static void parts_text(const run *r, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < r->s.n_losses; i++)
        for (int j = 0; j < r->s.loss_parts[i].n && o < cap; j++)
            o += (size_t)snprintf(buf + o, cap - o, " | %s.%s %.4f", pd_plugin_name(r->s.loss[i]),
                                  r->s.loss_parts[i].name[j], (double)r->s.loss_parts[i].value[j]);
}

static pd_status save(run *r, const char *path) {
    pd_checkpoint ck = {pd_jit_params(r->s.model), r->tr.ema1, r->tr.ema2, r->tr.opt, r->config_text,
                        r->s.plugins_desc, r->tr.st};
    pd_loader_state(r->loader, &ck.state.data); /* the shuffler may be ahead */
    return pd_checkpoint_save(path, &ck);
}

/* Samples a training grid ([train] grid_steps, grid_per_class; the rest
 * from [sample]) with the EMA the config selects, then restores the weights. */
static pd_status write_samples(run *r, const char *path) {
    const pd_config *cfg = &r->s.cfg;
    pd_ema *e = cfg->sample.ema == 1 ? r->tr.ema1 : cfg->sample.ema == 2 ? r->tr.ema2 : NULL;
    int classes[1024], nc = cfg->model.num_classes < 1024 ? cfg->model.num_classes : 1024;
    for (int i = 0; i < nc; i++) classes[i] = i;
    if (nc > 10) nc = 10; /* a grid of the first 10 classes during training */
    pd_sample_config sc;
    pd_sample_config_from(cfg, &sc);
    sc.steps = cfg->train.grid_steps;
    if (e) pd_ema_swap(e);
    pd_status s = pd_sample_grid(&r->s, &sc, classes, nc, cfg->train.grid_per_class,
                                 (uint64_t)cfg->sample.seed, path, NULL, false);
    if (e) pd_ema_swap(e);
    return s;
}

/* loss.png next to log.csv; a picture that fails is worth a warning, not
 * the run. */
static void plot_log(const pd_run_dir *rd, bool verbose) {
    size_t n = strlen(rd->dir) + sizeof "/loss.png";
    char *png = malloc(n);
    if (!png) return; /* a picture is not worth failing the run for */
    snprintf(png, n, "%s/loss.png", rd->dir);
    if (pd_plot_training_log(rd->log, png) && verbose)
        fprintf(stderr, "pixeldit: warning: %s\n", pd_last_error());
    free(png);
}

static void warn_young_ema(const run *r) {
    char note[320];
    if (pd_ema_young_note(&r->s.cfg, r->s.cfg.sample.ema, r->tr.st.step, note, sizeof note))
        fprintf(stderr, "pixeldit: note: %s\n", note);
}

/* Set-up checks for a stop between its phases: nothing is written yet. */
static pd_status stopped(void) {
    return g_stop ? pd_fail(PD_ERR_INTERRUPTED, "interrupted during set-up; nothing was written")
                  : PD_OK;
}

/* A resumed run uses the plugins the checkpoint was made with, losses
 * included (the optimiser state depends on them), at the same major version. */
static pd_status check_resume_plugins(const run *r, const pd_st_file *f, const pd_train_opts *o) {
    const char *ini, *recorded;
    pd_plugin_record rec;
    char note[512];
    pd_status s = pd_checkpoint_read_meta(f, &ini, &recorded);
    if (!s) s = pd_plugin_record_parse(recorded, o->resume, &rec);
    if (!s) s = pd_plugin_record_check(&rec, &r->s, PD_RECORD_ALL, o->resume, note, sizeof note);
    if (!s && note[0] && o->verbose) fprintf(stderr, "pixeldit: warning: %s: %s\n", o->resume, note);
    return s;
}

/* With several ranks: one rank's failure in `what` becomes every rank's
 * (the others report that a rank failed), so no rank goes on to wait for
 * the failed one in a reduction. One rank: s itself. */
static pd_status agree(pd_status s, const char *what) {
    if (!pd_dist_any(s != PD_OK)) return s;
    pd_dist_mark_agreed();
    if (s) return s;
    return pd_fail(PD_ERR_STATE, "rank %d: stopped during %s because another rank failed (its "
                   "message is above)", pd_dist_rank(), what);
}

static pd_status setup(run *r, const pd_train_opts *o) {
    const pd_config *cfg = o->cfg;
    pd_status s;
    pd_set_num_threads(cfg->train.threads);
    if (cfg->train.batch_size < pd_dist_size())
        return pd_fail(PD_ERR_CONFIG, "[train] batch_size %d is smaller than the %d MPI ranks: every "
                       "rank needs at least one sample of each batch", cfg->train.batch_size, pd_dist_size());
    if ((s = pd_session_open(&r->s, cfg)) || (s = stopped())) return s;
    if ((s = load_data(cfg, o->verbose && pd_dist_rank() == 0, &r->ds)) || (s = stopped())) return s;
    if ((s = pd_jit_init_weights(r->s.model, (uint64_t)cfg->train.seed)) || (s = stopped())) return s;
    /* a resumed run's weights are in before the trainer copies them into
     * its EMAs; its EMAs, moments and state are loaded over the trainer's */
    pd_st_file *f = NULL;
    if (o->resume) {
        if ((s = pd_st_open(o->resume, &f))) return s;
        s = check_resume_plugins(r, f, o);
        if (!s) s = pd_checkpoint_load_params(f, pd_jit_params(r->s.model), "");
    }
    if (!s) s = pd_trainer_open(&r->tr, &r->s, cfg->train.batch_size);
    if (!s) s = pd_shuffler_init(&r->shuf, r->ds->n, (uint64_t)cfg->train.seed * 2 + 1);
    if (!s && f && !(s = pd_trainer_resume(&r->tr, f))) s = pd_shuffler_restore(&r->shuf, &r->tr.st.data);
    pd_st_close(f);
    if (s) return s;
    pd_loader_opts lo = {.batch = cfg->train.batch_size, .first = r->tr.shard.first,
                         .count = r->tr.shard.count, .prefetch = cfg->data.prefetch};
    if ((s = pd_loader_open(r->ds, &r->shuf, &lo, &r->loader))) return s;
    if (!(r->config_text = pd_session_config_text(&r->s))) return pd_fail(PD_ERR_NOMEM, "out of memory");
    return stopped();
}

static void teardown(run *r) {
    pd_train_eval_close(&r->te);
    if (r->csv) fclose(r->csv);
    pd_run_dir_close(&r->dir);
    free(r->config_text);
    pd_trainer_close(&r->tr);
    pd_loader_close(r->loader);
    pd_shuffler_free(&r->shuf);
    pd_dataset_free(r->ds);
    pd_session_close(&r->s);
}

/* One optimisation step; *loss_out gets the total loss, parts[] each loss
 * (means over the global batch). The loader draws the global batch's
 * indices (the shuffler's state is the same on every rank) and loads this
 * rank's shard into the trainer's batch; each sample's flip, t, noise and
 * label drop come from (st.rng, step, global index), so the batch is the
 * same however many ranks share it. The rest is pd_trainer_step, the step
 * `pixeldit bench` times. */
static pd_status train_step(run *r, float lr, float *loss_out, float *parts) {
    const pd_config *cfg = &r->s.cfg;
    pd_trainer *tr = &r->tr;
    uint64_t step_no = (uint64_t)tr->st.step + 1;
    double t0 = pd_now_seconds();
    pd_status s = pd_loader_next(r->loader, tr->x, tr->labels, tr->idx, NULL);
    r->data_seconds += pd_now_seconds() - t0;
    if (s) return s;
    if (cfg->train.hflip) {
        for (int b = 0; b < tr->shard.count; b++) {
            pd_rng fr;
            pd_rng_derive(&fr, &tr->st.rng, step_no, (uint64_t)(tr->shard.first + b), PD_RNG_STREAM_HFLIP);
            tr->flip[b] = pd_rng_uniform(&fr) < 0.5;
        }
        pd_batch_hflip(tr->x, tr->shard.count, cfg->model.channels, cfg->model.image_size, tr->flip);
    }
    return pd_trainer_step(tr, lr, loss_out, parts);
}

pd_status pd_train_run(const pd_train_opts *o, pd_train_result *res) {
    run r;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    g_stop = 0;
    g_in_loop = 0;
    const pd_config *cfg = o->cfg;
    char *tmp = NULL;
    /* Everything that can reject the config runs before anything is written. */
    pd_status s = setup(&r, o);
    /* Every rank set up, or all stop: none is left waiting in a reduction.
     * Each agreement is reached by all ranks or by none. */
    bool set_up = !(s = agree(s, "set-up"));
    bool lead = pd_dist_rank() == 0; /* writes the run folder and the progress */
    if (set_up && lead) s = pd_run_dir_open(&r.dir, o->out_dir, o->resume, r.tr.st.step, o->force);
    if (set_up && lead && !s) s = pd_train_eval_open(&r.te, &r.s, o->out_dir, o->resume != NULL, r.tr.st.step);
    const char *ckpt = lead ? r.dir.checkpoint : "(rank 0's)", *path = r.dir.log;
    int B = cfg->train.batch_size; /* the global batch */
    bool fresh_csv = !s && lead && (access(path, F_OK) != 0 || !o->resume);
    if (!s && lead && !(r.csv = fopen(path, fresh_csv ? "w" : "a")))
        s = pd_fail(PD_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    if (set_up) s = agree(s, "opening the run folder");
    if (s) goto done;
    bool verbose = o->verbose && lead;
    bool first_row = true; /* the header comes after the first step: parts are named then */

    int64_t steps_per_epoch = r.ds->n / B;
    int64_t warmup = pd_config_warmup_steps(cfg, steps_per_epoch);
    float base_lr = (float)pd_config_lr(cfg);
    int64_t start = r.tr.st.step, end = INT64_MAX;
    if (o->max_steps > 0 && o->max_steps < INT64_MAX - start) end = start + o->max_steps;
    if (cfg->train.epochs > 0 && steps_per_epoch * cfg->train.epochs < end) end = steps_per_epoch * cfg->train.epochs;
    bool tty = isatty(STDERR_FILENO);
    if (verbose)
        fprintf(stderr, "pixeldit: training %s on %d images (%d classes), %zu parameters, batch %d, "
                "lr %.3g, warm-up %lld steps, %d threads, BLAS core %s\n"
                "pixeldit: plugins %s; writing to %s\n",
                cfg->model.preset[0] ? cfg->model.preset : "JiT", r.ds->n, r.ds->num_classes,
                pd_params_numel(pd_jit_params(r.s.model), true), B, (double)base_lr,
                (long long)warmup, pd_get_num_threads(), pd_blas_corename(), r.s.plugins_desc, o->out_dir);
    if (verbose && r.tr.size > 1)
        fprintf(stderr, "pixeldit: data-parallel on %d MPI ranks (%s), %d%s images per rank and "
                "step, %d threads each\n", r.tr.size, pd_dist_library(), B / r.tr.size,
                B % r.tr.size ? " or 1 more" : "", pd_get_num_threads());

    double t0 = pd_now_seconds(), t_window = t0, seconds_before = r.tr.st.train_seconds;
    int64_t window_start = start;
    float loss = 0, parts[PD_SESSION_MAX_LOSSES] = {0}, img_s = 0;
    /* One process stops where it is; several agree in each step's
     * reduction (a signal or the clock on any rank stops all after it). */
    pd_step_shard *shard = &r.tr.shard;
    bool stop = false, time_up = false;
    g_in_loop = 1;
    while (r.tr.st.step < end && !stop && !time_up) {
        bool late = o->max_minutes > 0 && pd_now_seconds() - t0 > o->max_minutes * 60;
        if (r.tr.size == 1 && (g_stop || late)) {
            stop = g_stop;
            break;
        }
        float lr = pd_lr_at(base_lr, r.tr.st.step, warmup);
        shard->stop = g_stop, shard->time_up = late;
        s = train_step(&r, lr, &loss, parts);
        if (s) break;
        if (r.tr.size > 1) stop = shard->stop, time_up = shard->time_up;
        if (!lead) continue; /* the rest of the loop writes the run folder */
        int64_t step = r.tr.st.step, epoch = (step - 1) / steps_per_epoch;
        double now = pd_now_seconds();
        if (now > t_window) img_s = (float)((double)(step - window_start) * B / (now - t_window));
        if (step - window_start >= 20) {
            t_window = now;
            window_start = step;
        }
        if (first_row) { /* a resumed log.csv has these columns already */
            for (int i = 0; i < r.s.n_losses; i++) r.n_parts[i] = r.s.loss_parts[i].n;
            if (fresh_csv && (s = csv_header(&r, path))) break;
            first_row = false;
        }
        if ((s = csv_row(&r, path, step, epoch, loss, lr, parts, img_s))) break;
        char partstr[256];
        parts_text(&r, partstr, sizeof partstr);
        double eta = -1;
        double rate = (double)(step - start) / (now - t0);
        if (end != INT64_MAX) eta = (double)(end - step) / rate;
        if (o->max_minutes > 0) {
            double left = o->max_minutes * 60 - (now - t0);
            if (eta < 0 || left < eta) eta = left;
        }
        char etas[32];
        fmt_eta(etas, sizeof etas, eta);
        if (verbose && tty)
            fprintf(stderr, "\rstep %lld | epoch %lld | loss %.4f%s | lr %.2e | %.1f img/s | ETA %s   ",
                    (long long)step, (long long)epoch, (double)loss, partstr, (double)lr,
                    (double)img_s, etas);
        if (cfg->train.log_every > 0 && step % cfg->train.log_every == 0 && (s = pd_log_flush(r.csv, path))) break;
        if (verbose && !tty && cfg->train.log_every > 0 && step % cfg->train.log_every == 0)
            fprintf(stderr, "step %lld epoch %lld loss %.4f%s lr %.3g %.1f img/s ETA %s\n",
                    (long long)step, (long long)epoch, (double)loss, partstr, (double)lr,
                    (double)img_s, etas);
        r.tr.st.train_seconds = seconds_before + (now - t0) - r.paused;
        if (cfg->train.ckpt_every > 0 && step % cfg->train.ckpt_every == 0) {
            if ((s = pd_log_flush(r.csv, path)) || (s = save(&r, ckpt))) break;
            plot_log(&r.dir, verbose);
        }
        if (cfg->train.sample_every > 0 && step % cfg->train.sample_every == 0) {
            char name[64];
            snprintf(name, sizeof name, "step_%06lld.png", (long long)step);
            free(tmp);
            if (!(tmp = pd_run_dir_sample_path(&r.dir, name))) s = PD_ERR_NOMEM;
            double g0 = pd_now_seconds();
            if (s || (s = write_samples(&r, tmp))) break;
            r.paused += pd_now_seconds() - g0;
        }
        if (cfg->eval.every > 0 && step % cfg->eval.every == 0) {
            double secs;
            s = pd_train_eval_point(&r.te, &r.s, r.tr.ema1, step, step * (int64_t)B, r.tr.st.train_seconds,
                                    verbose, &secs);
            r.paused += secs;
            if (s) break;
        }
    }
    if (r.tr.size == 1) stop = stop || g_stop;
    if (verbose && tty) fprintf(stderr, "\n");
    if (verbose && r.tr.st.step > start)
        fprintf(stderr, "pixeldit: data: %.2f ms per step waiting for batches (prefetch %d)\n",
                1e3 * r.data_seconds / (double)(r.tr.st.step - start), cfg->data.prefetch);
    if (!s && lead) s = pd_log_flush(r.csv, path);
    res->step = r.tr.st.step;
    res->last_loss = loss;
    res->images_per_s = img_s;
    if (s == PD_ERR_NUMERIC || s == PD_ERR_IO) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pd_last_error());
        s = pd_fail(s, "%s; stopped without saving (the last checkpoint, if any, is %s)", msg, ckpt);
        goto done;
    }
    if (s) goto done;
    r.tr.st.train_seconds = seconds_before + (pd_now_seconds() - t0) - r.paused;
    /* no step taken: the folder's checkpoint (if any) already holds this state */
    if (r.tr.st.step == start && stop) {
        s = pd_fail(PD_ERR_INTERRUPTED, "interrupted before the first step; nothing was saved");
        goto done;
    }
    if (lead && r.tr.st.step > start && (s = save(&r, ckpt))) goto done;
    g_in_loop = 0; /* saved: a stop from here on loses nothing */
    if (lead) plot_log(&r.dir, verbose);
    snprintf(res->checkpoint, sizeof res->checkpoint, "%s", ckpt);
    if (stop) {
        if (r.tr.size > 1) pd_dist_mark_agreed(); /* every rank stopped after this step */
        s = pd_fail(PD_ERR_INTERRUPTED, "interrupted at step %lld; checkpoint saved to %s",
                    (long long)r.tr.st.step, ckpt);
        goto done;
    }
    if (lead && cfg->eval.every > 0) { /* the curve ends at the last step */
        double secs;
        if ((s = pd_train_eval_point(&r.te, &r.s, r.tr.ema1, r.tr.st.step, r.tr.st.step * (int64_t)B,
                                     r.tr.st.train_seconds, verbose, &secs)))
            goto done;
    }
    if (!cfg->train.final_grid || !lead) {
        if (verbose) fprintf(stderr, "pixeldit: step %lld, loss %.4f; checkpoint %s\n",
                                (long long)r.tr.st.step, (double)loss, ckpt);
        goto done;
    }
    free(tmp);
    if (!(tmp = pd_run_dir_sample_path(&r.dir, "final.png"))) {
        s = PD_ERR_NOMEM;
        goto done;
    }
    if (verbose) fprintf(stderr, "pixeldit: step %lld, loss %.4f; checkpoint %s; sampling %s\n",
                         (long long)r.tr.st.step, (double)loss, ckpt, tmp);
    if (verbose) warn_young_ema(&r);
    s = write_samples(&r, tmp);
done:
    g_in_loop = 0;
    free(tmp);
    teardown(&r);
    return s;
}
