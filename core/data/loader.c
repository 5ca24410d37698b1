/* The batch loader: the shuffler's batches, optionally prepared ahead by a
 * background thread, optionally only one rank's slice of each.
 *
 * Only the calling thread draws from the shuffler. Each draw goes into a
 * slot of a ring together with the shuffler state right after it; the
 * worker fills slots in order (gather, or decode a streamed folder's files;
 * x/255*2-1) and the caller takes
 * them in the same order. So the batches are the synchronous loader's, bit
 * for bit, whatever the timing, and the state a checkpoint needs is the one
 * stored with the last slot handed out. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "pixeldit/runtime.h"

typedef enum { SLOT_FREE, SLOT_PENDING, SLOT_READY } slot_state;

typedef struct slot {
    int *idx;            /* (batch) global indices */
    float *x;            /* (count, C, S, S) */
    int *y;              /* (count) */
    pd_shuffler_state after;
    pd_status status;    /* of the fill */
    char error[512];
    slot_state state;
} slot;

struct pd_loader {
    const pd_dataset *ds;
    pd_shuffler *shuf;
    int batch, first, count, depth;
    size_t per;          /* C*S*S */
    slot *slots;         /* (max(depth, 1)) ring */
    int head;            /* next slot to hand out */
    int fill;            /* next slot the worker fills */
    pd_shuffler_state consumed;
    pd_status broken;    /* a failed draw left the ring short: every later call fails */
    pthread_t worker;
    bool running, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* any state change */
};

/* Fills a drawn slot; runs on the worker (or the caller when depth = 0). */
static void fill_slot(const pd_loader *l, slot *sl) {
    sl->status = pd_dataset_batch(l->ds, sl->idx + l->first, l->count, NULL, sl->x, sl->y);
    if (sl->status) snprintf(sl->error, sizeof sl->error, "%s", pd_last_error());
}

/* Draws the next global batch into sl (calling thread only). */
static pd_status draw(pd_loader *l, slot *sl) {
    pd_status s = pd_shuffler_next(l->shuf, sl->idx, l->batch, NULL);
    if (!s) pd_shuffler_save(l->shuf, &sl->after);
    return s;
}

static void *worker_main(void *arg) {
    pd_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->slots[l->fill].state != SLOT_PENDING) pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop) break;
        slot *sl = &l->slots[l->fill];
        pthread_mutex_unlock(&l->mu);
        fill_slot(l, sl); /* the slot is the worker's while PENDING */
        pthread_mutex_lock(&l->mu);
        sl->state = SLOT_READY;
        l->fill = (l->fill + 1) % l->depth;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

void pd_loader_close(pd_loader *l) {
    if (!l) return;
    if (l->running) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->worker, NULL);
    }
    if (l->depth > 0) {
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
    }
    int nslots = l->depth > 0 ? l->depth : 1;
    for (int i = 0; l->slots && i < nslots; i++) {
        free(l->slots[i].idx);
        free(l->slots[i].x);
        free(l->slots[i].y);
    }
    free(l->slots);
    free(l);
}

pd_status pd_loader_open(const pd_dataset *ds, pd_shuffler *shuf, const pd_loader_opts *o,
                         pd_loader **out) {
    if (!ds || !shuf || !o || !out) return pd_fail(PD_ERR_ARG, "loader_open: NULL argument");
    *out = NULL;
    int count = o->count ? o->count : o->batch;
    if (o->batch < 1 || o->batch > ds->n)
        return pd_fail(PD_ERR_ARG, "loader: batch must be in 1..%d (data set size), got %d", ds->n,
                       o->batch);
    if (o->first < 0 || count < 1 || o->first > o->batch - count)
        return pd_fail(PD_ERR_ARG, "loader: slice [%d, %d) is not inside the batch [0, %d)",
                       o->first, o->first + count, o->batch);
    if (o->prefetch < 0 || o->prefetch > 64)
        return pd_fail(PD_ERR_ARG, "loader: prefetch must be in 0..64, got %d", o->prefetch);
    if (shuf->n != ds->n)
        return pd_fail(PD_ERR_ARG, "loader: shuffler covers %d images, the data set has %d",
                       shuf->n, ds->n);
    pd_loader *l = calloc(1, sizeof *l);
    if (!l) return pd_fail(PD_ERR_NOMEM, "loader: out of memory");
    l->ds = ds;
    l->shuf = shuf;
    l->batch = o->batch;
    l->first = o->first;
    l->count = count;
    l->depth = o->prefetch;
    l->per = (size_t)ds->channels * ds->size * ds->size;
    pd_shuffler_save(shuf, &l->consumed);
    int nslots = l->depth > 0 ? l->depth : 1;
    l->slots = calloc((size_t)nslots, sizeof(slot));
    bool ok = l->slots != NULL;
    for (int i = 0; ok && i < nslots; i++) {
        slot *sl = &l->slots[i];
        sl->idx = malloc(sizeof(int) * (size_t)l->batch);
        sl->x = malloc(sizeof(float) * l->per * (size_t)count);
        sl->y = malloc(sizeof(int) * (size_t)count);
        ok = sl->idx && sl->x && sl->y;
    }
    if (!ok) {
        pd_loader_close(l);
        return pd_fail(PD_ERR_NOMEM, "loader: out of memory for %d batches of %d", nslots, count);
    }
    if (l->depth > 0) {
        pthread_mutex_init(&l->mu, NULL);
        pthread_cond_init(&l->cv, NULL);
        for (int i = 0; i < l->depth; i++) {
            pd_status s = draw(l, &l->slots[i]);
            if (s) {
                pd_loader_close(l);
                return s;
            }
            l->slots[i].state = SLOT_PENDING;
        }
        if (pthread_create(&l->worker, NULL, worker_main, l) != 0) {
            pd_loader_close(l);
            return pd_fail(PD_ERR_NOMEM, "loader: cannot start the prefetch thread");
        }
        l->running = true;
    }
    *out = l;
    return PD_OK;
}

pd_status pd_loader_next(pd_loader *l, float *x, int *labels, int *global_idx, double *wait_s) {
    if (!l || !x) return pd_fail(PD_ERR_ARG, "loader_next: NULL argument");
    if (wait_s) *wait_s = 0;
    if (l->broken) return pd_fail(l->broken, "loader: an earlier batch failed to draw");
    slot *sl = &l->slots[l->head];
    if (l->depth == 0) {
        pd_status s = draw(l, sl);
        if (s) return s;
        fill_slot(l, sl);
    } else {
        double t0 = wait_s ? pd_now_seconds() : 0;
        pthread_mutex_lock(&l->mu);
        while (sl->state != SLOT_READY) pthread_cond_wait(&l->cv, &l->mu);
        pthread_mutex_unlock(&l->mu);
        if (wait_s) *wait_s = pd_now_seconds() - t0;
    }
    if (sl->status) return pd_fail(sl->status, "%s", sl->error);
    memcpy(x, sl->x, sizeof(float) * l->per * (size_t)l->count);
    if (labels) memcpy(labels, sl->y, sizeof(int) * (size_t)l->count);
    if (global_idx) memcpy(global_idx, sl->idx, sizeof(int) * (size_t)l->batch);
    l->consumed = sl->after;
    if (l->depth > 0) { /* refill this slot with the batch `depth` steps ahead */
        pd_status s = draw(l, sl);
        pthread_mutex_lock(&l->mu);
        sl->state = s ? SLOT_FREE : SLOT_PENDING;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        if (s) return l->broken = s;
        l->head = (l->head + 1) % l->depth;
    }
    return PD_OK;
}

void pd_loader_state(const pd_loader *l, pd_shuffler_state *st) {
    if (l && st) *st = l->consumed;
}
