/* Softmax cross-entropy over class logits: the feature network's loss. */
#include <math.h>
#include <string.h>

#include "eval_internal.h"

typedef struct {
    int B, K;
    int *labels;  /* (B) arena copy */
    float *prob;  /* (B, K) softmax, kept for backward when recording */
} xent_attr;

/* logits (B, K) -> loss (): mean over rows of logsumexp - the label's logit,
 * in double per row so a large K or logit does not lose the small terms. */
static pd_status xent_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)n_in;
    xent_attr *a = attr;
    const float *z = in[0]->data;
    if (pd_ctx_recording(ctx) && !(a->prob = pd_ctx_alloc(ctx, (size_t)a->B * a->K * sizeof(float))))
        return PD_ERR_NOMEM;
    double total = 0;
    for (int b = 0; b < a->B; b++) {
        const float *row = z + (size_t)b * a->K;
        float m = row[0];
        for (int k = 1; k < a->K; k++) m = row[k] > m ? row[k] : m;
        double sum = 0;
        for (int k = 0; k < a->K; k++) sum += exp((double)row[k] - m);
        total += log(sum) + m - row[a->labels[b]];
        if (a->prob)
            for (int k = 0; k < a->K; k++)
                a->prob[(size_t)b * a->K + k] = (float)(exp((double)row[k] - m) / sum);
    }
    y->data[0] = (float)(total / a->B);
    return PD_OK;
}

static pd_status xent_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const xent_attr *a = attr;
    float *dz = in[0]->grad;
    if (!dz) return PD_OK;
    float g = y->grad[0] / (float)a->B;
    for (int b = 0; b < a->B; b++)
        for (int k = 0; k < a->K; k++) {
            size_t i = (size_t)b * a->K + k;
            dz[i] += g * (a->prob[i] - (k == a->labels[b] ? 1.0f : 0.0f));
        }
    return PD_OK;
}

static const pd_op_def xent_op = {"cross_entropy", xent_fwd, xent_bwd};

pd_tensor *pd_eval_cross_entropy(pd_ctx *ctx, pd_tensor *logits, const int *labels) {
    if (!ctx || !logits || pd_ctx_status(ctx)) return NULL;
    if (logits->ndim != 2 || !labels) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "cross_entropy: expected logits (B, K) and B labels");
        return NULL;
    }
    xent_attr a = {logits->shape[0], logits->shape[1], NULL, NULL};
    for (int b = 0; b < a.B; b++)
        if (labels[b] < 0 || labels[b] >= a.K) {
            pd_ctx_fail(ctx, PD_ERR_ARG, "cross_entropy: label %d of row %d is not in [0, %d)",
                        labels[b], b, a.K);
            return NULL;
        }
    if (!(a.labels = pd_ctx_alloc(ctx, (size_t)a.B * sizeof(int)))) return NULL;
    memcpy(a.labels, labels, (size_t)a.B * sizeof(int));
    pd_tensor *in[1] = {logits};
    return pd_op_apply(ctx, &xent_op, in, 1, NULL, 0, &a, sizeof a);
}
