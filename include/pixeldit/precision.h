/* GEMM precision: what `[train] precision` selects and pd_ctx_set_precision
 * sets (docs/benchmarks.md says what each does; docs/benchmarks-log.md has
 * the measurements behind it). */
#ifndef PIXELDIT_PRECISION_H
#define PIXELDIT_PRECISION_H

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* Precision of every matrix product the ops run (linear, matmul, conv,
 * the sdpa attention; core/ops/gemm.h is the one seam they all call).
 * Everything else (weights, optimizer state, norms, softmax, losses)
 * stays fp32 whatever this says.
 * FP32 (default): fp32 sgemm.
 * BF16: native bf16 GEMM with fp32 accumulation: oneDNN's matmul on a
 *      CPU with AVX512_BF16 or AMX-BF16, in a build with oneDNN
 *      (-Ddnnl). pd_precision_problem() refuses it anywhere else.
 * BF16_EMULATED: both operands rounded to bf16 (round to nearest even),
 *      then an fp32 sgemm, which accumulates exactly what a bf16 GEMM with
 *      fp32 accumulation would up to summation order. Numerics only:
 *      no faster than fp32 (it copies every operand). */
typedef enum pd_precision {
    PD_PRECISION_FP32 = 0,
    PD_PRECISION_BF16 = 1,
    PD_PRECISION_BF16_EMULATED = 2,
} pd_precision;
/* NULL when precision p can run on this CPU and build, else why not (one
 * line naming the missing CPU feature or backend). */
const char *pd_precision_problem(pd_precision p);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
