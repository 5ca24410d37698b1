/* Per-epoch Fisher-Yates shuffling with exactly restorable state.
 *
 * Every epoch's permutation is drawn from the identity, so it depends only
 * on the rng state at the start of that epoch (epoch_rng). Saving
 * (epoch, pos, epoch_rng) and redrawing on restore therefore reproduces the
 * permutation, the remaining batches and all later epochs bit for bit. */
#include <stdlib.h>
#include <string.h>

#include "pixeldit/data.h"

/* Draws this epoch's permutation from epoch_rng; leaves the advanced
 * generator in rng for the next epoch. */
static void draw_epoch(pd_shuffler *s) {
    pd_rng r = s->epoch_rng;
    for (int i = 0; i < s->n; i++) s->perm[i] = i;
    for (int i = s->n - 1; i > 0; i--) {
        int j = (int)pd_rng_below(&r, (uint32_t)i + 1);
        int t = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = t;
    }
    s->rng = r;
    s->pos = 0;
}

pd_status pd_shuffler_init(pd_shuffler *s, int n, uint64_t seed) {
    if (!s) return pd_fail(PD_ERR_ARG, "shuffler_init: NULL shuffler");
    memset(s, 0, sizeof *s);
    if (n <= 0) return pd_fail(PD_ERR_ARG, "shuffler_init: data set size must be > 0, got %d", n);
    s->perm = malloc(sizeof(int) * (size_t)n);
    if (!s->perm) return pd_fail(PD_ERR_NOMEM, "shuffler_init: cannot allocate %d indices", n);
    s->n = n;
    pd_rng_seed(&s->epoch_rng, seed);
    draw_epoch(s);
    return PD_OK;
}

void pd_shuffler_free(pd_shuffler *s) {
    if (!s) return;
    free(s->perm);
    s->perm = NULL;
    s->n = 0;
}

pd_status pd_shuffler_next(pd_shuffler *s, int *out, int batch, int64_t *epoch_out) {
    if (!s || !s->perm || !out) return pd_fail(PD_ERR_ARG, "shuffler_next: NULL argument");
    if (batch <= 0 || batch > s->n)
        return pd_fail(PD_ERR_ARG, "shuffler_next: batch must be in 1..%d (data set size), got %d",
                       s->n, batch);
    if (s->n - s->pos < batch) { /* drop_last: the short tail is skipped */
        s->epoch++;
        s->epoch_rng = s->rng;
        draw_epoch(s);
    }
    memcpy(out, s->perm + s->pos, sizeof(int) * (size_t)batch);
    s->pos += batch;
    if (epoch_out) *epoch_out = s->epoch;
    return PD_OK;
}

void pd_shuffler_save(const pd_shuffler *s, pd_shuffler_state *st) {
    st->epoch = s->epoch;
    st->pos = s->pos;
    memcpy(st->rng, s->epoch_rng.s, sizeof st->rng);
}

pd_status pd_shuffler_restore(pd_shuffler *s, const pd_shuffler_state *st) {
    if (!s || !s->perm || !st) return pd_fail(PD_ERR_ARG, "shuffler_restore: NULL argument");
    if (st->epoch < 0 || st->pos < 0 || st->pos > s->n)
        return pd_fail(PD_ERR_ARG,
                       "shuffler_restore: saved epoch %lld / position %lld do not fit a data "
                       "set of %d",
                       (long long)st->epoch, (long long)st->pos, s->n);
    memcpy(s->epoch_rng.s, st->rng, sizeof st->rng);
    draw_epoch(s);
    s->epoch = st->epoch;
    s->pos = (int)st->pos;
    return PD_OK;
}
