#!/bin/bash
# bf16 against fp32 (OpenBLAS) and fp32 through oneDNN, bench-s training and
# bench's sampling call, under both OpenBLAS kernels, alternating rounds
# (issue 25). Pauses a running `pixeldit ablate` (the study) with SIGSTOP and
# resumes it on exit; run it with nothing else on the machine.
#
#     bench/bf16_ab.sh [ROUNDS] [OUTDIR]   # defaults 2, results/bench/bf16
#
# CONFIGS (default "bench-s"): the configs/ presets to run; bench-b16
# (JiT-B/16, ~3 s per fp32 step here) runs 3 timed steps and a 2-step
# sampling call, bench-s 10 and 10.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
rounds=${1:-2}
out=${2:-results/bench/bf16}
mkdir -p "$out"
source bench/pause_study.sh
median_of() { grep -o "\"$1\": {[^}]*" "$2" | grep -o '"median_s": [0-9.e-]*' | awk '{print $2}'; }
for r in $(seq 1 "$rounds"); do
 for cfg in ${CONFIGS:-bench-s}; do
  steps=(--steps 10 --warmup 2 --sample-steps 10)
  [[ $cfg == bench-b16 ]] && steps=(--steps 3 --warmup 1 --sample-steps 2)
  for k in Haswell SkylakeX; do
    for mode in fp32 bf16 onednn; do
      case $mode in
        fp32) extra=() ;;
        bf16) extra=(--set train.precision=bf16) ;;
        onednn) extra=(--fp32-gemm onednn) ;;
      esac
      j="$out/$cfg.$k.$mode.r$r.json"
      OPENBLAS_CORETYPE=$k build/cli/pixeldit bench "configs/$cfg.ini" "${extra[@]}" "${steps[@]}" \
        --no-peak --quiet --json "$j" >/dev/null 2>&1
      echo "round $r $cfg $k $mode: train $(median_of train "$j") s/step, sample $(median_of sample "$j") s"
    done
  done
 done
done
