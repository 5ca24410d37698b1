/* pixeldit/rng.h - a small, fast, reproducible random generator.
 *
 * xoshiro256** seeded through splitmix64. The whole state is four words, so
 * checkpoints can save and restore it exactly.
 */
#ifndef PIXELDIT_RNG_H
#define PIXELDIT_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

typedef struct pd_rng {
    uint64_t s[4];
} pd_rng;

void pd_rng_seed(pd_rng *r, uint64_t seed);
uint64_t pd_rng_u64(pd_rng *r);
/* Uniform in [0, 1), 53-bit. */
double pd_rng_uniform(pd_rng *r);
/* Standard normal (Box-Muller in double, no cached pair so the stream is a
 * pure function of the state). */
double pd_rng_normal(pd_rng *r);
/* Fills out[n] with mean + std * N(0,1) / uniform [lo, hi). */
void pd_rng_fill_normal(pd_rng *r, float *out, size_t n, float mean, float std);
void pd_rng_fill_uniform(pd_rng *r, float *out, size_t n, float lo, float hi);
/* Uniform integer in [0, n). */
uint32_t pd_rng_below(pd_rng *r, uint32_t n);

/* Streams of pd_rng_derive: what a derived generator is for. */
enum { PD_RNG_STREAM_DIFFUSION = 1, PD_RNG_STREAM_HFLIP = 2, PD_RNG_STREAM_RANK = 3 };
/* A generator that is a pure function of (key, a, b, stream), e.g. of
 * (step, global sample index): data-parallel training draws each sample's
 * randomness from it, so the result does not depend on how a batch is
 * split across processes. key is not advanced. */
void pd_rng_derive(pd_rng *out, const pd_rng *key, uint64_t a, uint64_t b, uint64_t stream);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
