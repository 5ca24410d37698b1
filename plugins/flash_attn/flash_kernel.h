/* flash_kernel.h - exact fused attention on raw float arrays (internal to
 * the flash_attn plugin; no pixeldit types, so the kernels can be tested
 * and timed alone).
 *
 * Shapes: q (BH, N, d), k and v (BH, M, d), o (BH, N, d), all contiguous.
 * The forward walks the keys in blocks with an online softmax and keeps one
 * log-sum-exp per query row (base 2, see flash_kernel.c); the backward
 * recomputes the probabilities block by block from it. Nothing of size
 * N x M is ever stored. */
#ifndef FLASH_KERNEL_H
#define FLASH_KERNEL_H

#include <stddef.h>

typedef struct flash_dims {
    int bh, n, m, d;  /* batch*heads, queries, keys, head dim */
    int bq, bk;       /* query rows and keys per block: multiples of 4 and 16 */
    float scale;      /* softmax(scale q k^T) */
} flash_dims;

/* Floats of scratch one thread needs; the caller passes threads times this. */
size_t flash_fwd_scratch(const flash_dims *dm);
size_t flash_bwd_scratch(const flash_dims *dm);

/* Work items the kernels split over threads (a thread count above this
 * only adds idle threads). */
int flash_fwd_tasks(const flash_dims *dm);
int flash_bwd_tasks(const flash_dims *dm);

/* o = softmax(scale q k^T) v. lse (BH, N), when not NULL, receives each
 * row's log2-sum-exp2 of the base-2 logits, which the backward needs. */
void flash_forward(const flash_dims *dm, const float *q, const float *k, const float *v, float *o,
                   float *lse, float *scratch, int threads);

/* Given dout = dL/do, ADDS dL/dq, dL/dk, dL/dv into dq, dk, dv (each may be
 * NULL: not wanted). o and lse are the forward's. Deterministic: the result
 * does not depend on the thread count. */
void flash_backward(const flash_dims *dm, const float *q, const float *k, const float *v,
                    const float *o, const float *dout, const float *lse, float *dq, float *dk,
                    float *dv, float *scratch, int threads);

/* The register-tiled product every block product runs on: C (m, n) = or
 * += (acc) A (m, k) B (k, n), row-major; m % 4 == 0, n % 16 == 0. Exposed
 * for bench/bench_attention_tile.c. */
void flash_gemm_tile(int m, int n, int k, const float *restrict a, int lda,
                     const float *restrict b, int ldb, float *restrict c, int ldc, int acc);

#endif
