/* xoshiro256** (Blackman & Vigna), seeded with splitmix64. */
#include <math.h>

#include "pixeldit/rng.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void pd_rng_seed(pd_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t pd_rng_u64(pd_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double pd_rng_uniform(pd_rng *r) { return (double)(pd_rng_u64(r) >> 11) * 0x1.0p-53; }

double pd_rng_normal(pd_rng *r) {
    /* 1 - u keeps the log argument in (0, 1]. */
    double u1 = 1.0 - pd_rng_uniform(r);
    double u2 = pd_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void pd_rng_fill_normal(pd_rng *r, float *out, size_t n, float mean, float std) {
    for (size_t i = 0; i < n; i++) out[i] = (float)(mean + std * pd_rng_normal(r));
}

void pd_rng_fill_uniform(pd_rng *r, float *out, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) out[i] = (float)(lo + (hi - lo) * pd_rng_uniform(r));
}

uint32_t pd_rng_below(pd_rng *r, uint32_t n) {
    return (uint32_t)(((pd_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

/* splitmix64's finaliser folds each word into the seed, so nearby (a, b)
 * pairs give unrelated generators. */
void pd_rng_derive(pd_rng *out, const pd_rng *key, uint64_t a, uint64_t b, uint64_t stream) {
    uint64_t x = key->s[0] ^ rotl(key->s[1], 17) ^ rotl(key->s[2], 31) ^ rotl(key->s[3], 47);
    uint64_t words[3] = {a, b, stream};
    for (int i = 0; i < 3; i++) {
        uint64_t h = x ^ words[i];
        x = splitmix64(&h);
    }
    pd_rng_seed(out, x);
}
