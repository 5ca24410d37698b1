/* pixeldit/params.h - named, long-lived parameters and their gradients.
 *
 * A pd_params owns every parameter tensor registered in it: data, gradient
 * and name. Names are the checkpoint names (JiT's PyTorch state_dict keys).
 */
#ifndef PIXELDIT_PARAMS_H
#define PIXELDIT_PARAMS_H

#include "pixeldit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

enum pd_param_flags {
    PD_PARAM_FROZEN = 1u << 0,   /* saved, never trained (e.g. pos_embed) */
    PD_PARAM_NO_DECAY = 1u << 1, /* exempt from weight decay regardless of rank */
};

typedef struct pd_params pd_params;

pd_params *pd_params_new(void);
void pd_params_free(pd_params *p);

/* Registers a zero-filled parameter; trainable ones get a zeroed gradient.
 * Fails (NULL, error set) on a duplicate or invalid name or bad shape. */
pd_tensor *pd_params_add(pd_params *p, const char *name, const int *shape, int ndim,
                         unsigned flags);
int pd_params_count(const pd_params *p);
pd_tensor *pd_params_at(const pd_params *p, int i);
unsigned pd_params_flags_at(const pd_params *p, int i);
pd_tensor *pd_params_find(const pd_params *p, const char *name);
/* Total elements (trainable only, or all). */
size_t pd_params_numel(const pd_params *p, bool trainable_only);
void pd_params_zero_grad(pd_params *p);
/* True if weight decay applies: trainable, rank >= 2, not named *.bias,
 * not PD_PARAM_NO_DECAY. */
bool pd_params_decays(const pd_params *p, int i);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
