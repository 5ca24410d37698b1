/* Names of the samplers and time schedules, and what a sampler costs in
 * network evaluations. One table each, in enum order, shared by the config
 * schema and the commands. */
#include <string.h>

#include "pixeldit/config.h"

static const char *const sampler_names[PD_SAMPLER_COUNT] = {"heun", "euler", "dpm++2m", "unipc"};
static const char *const schedule_names[PD_SCHEDULE_COUNT] = {"auto", "uniform", "logit-normal", "logsnr"};

const char *pd_sampler_name(pd_sampler_kind k) {
    return (int)k >= 0 && (int)k < PD_SAMPLER_COUNT ? sampler_names[k] : "?";
}

pd_status pd_sampler_from_name(const char *name, pd_sampler_kind *out) {
    for (int i = 0; name && i < PD_SAMPLER_COUNT; i++)
        if (!strcmp(name, sampler_names[i])) {
            *out = (pd_sampler_kind)i;
            return PD_OK;
        }
    return pd_fail(PD_ERR_ARG, "unknown sampler '%s': expected one of %s", name ? name : "(null)",
                   PD_SAMPLER_CHOICES);
}

int pd_sampler_nfe(pd_sampler_kind k, int steps) {
    if (steps < 1) return 0;
    switch (k) {
    case PD_SAMPLER_HEUN: return 2 * steps - 1;
    case PD_SAMPLER_EULER:
    case PD_SAMPLER_DPMPP_2M:
    case PD_SAMPLER_UNIPC: return steps;
    }
    return 0;
}

int pd_sampler_steps_for_nfe(pd_sampler_kind k, int nfe) {
    int steps = k == PD_SAMPLER_HEUN ? (nfe + 1) / 2 : nfe;
    return steps < 1 ? 1 : steps;
}

const char *pd_schedule_name(pd_sample_schedule s) {
    return (int)s >= 0 && (int)s < PD_SCHEDULE_COUNT ? schedule_names[s] : "?";
}

pd_status pd_schedule_from_name(const char *name, pd_sample_schedule *out) {
    for (int i = 0; name && i < PD_SCHEDULE_COUNT; i++)
        if (!strcmp(name, schedule_names[i])) {
            *out = (pd_sample_schedule)i;
            return PD_OK;
        }
    return pd_fail(PD_ERR_ARG, "unknown schedule '%s': expected one of %s", name ? name : "(null)",
                   PD_SCHEDULE_CHOICES);
}

pd_sample_schedule pd_schedule_resolve(pd_sample_schedule s, pd_sampler_kind k) {
    (void)k; /* every sampler's default is JiT's uniform grid (docs/sampling.md) */
    return s == PD_SCHEDULE_AUTO ? PD_SCHEDULE_UNIFORM : s;
}
