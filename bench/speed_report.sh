#!/bin/bash
# Every speed measurement of issue 25 on this machine, in one quiet window:
# pixeldit against PyTorch (bench/compare.py) under each OpenBLAS kernel and
# as each side picks its own, and bf16 against fp32 for both sides. Pauses
# a running `pixeldit ablate` (the study) with SIGSTOP and resumes it on
# exit; run it with nothing else on the machine (~20 minutes on 2 cores).
#
#     bench/speed_report.sh [OUTDIR]     # default results/bench/compare
#
# Writes OUTDIR/<what>.txt (compare.py's table) and OUTDIR/<what>/ (the
# JSON of every run), <what> one of:
#   fp32-Haswell, fp32-SkylakeX   bench-s, OPENBLAS_CORETYPE set for both sides
#   fp32-own                      bench-s, each side's own kernel choice (as a user gets it)
#   bf16-s, bf16-b16              --precision bf16 (pixeldit bf16, PyTorch autocast), the
#                                 environment's kernel
#   fp32-b16                      bench-b16 fp32, the environment's kernel
# bench/bf16_ab.sh (pixeldit bf16 against its own fp32) and `scripts/study.sh
# bench` (the decoders) are the other two parts of the issue's numbers.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${1:-results/bench/compare}
mkdir -p "$out"
source bench/pause_study.sh
[[ -x build/cli/pixeldit ]] || scripts/build.sh >/dev/null
cmp() { # cmp NAME ENV... -- ARGS...: one compare.py run
  local name=$1; shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  echo "== $name" >&2
  env "${envs[@]}" /usr/bin/python3 bench/compare.py --out "$out/$name" "$@" > "$out/$name.txt" 2>/dev/null
  grep -A4 "^median over rounds" "$out/$name.txt" >&2
}
s=(--configs configs/bench-s.ini --rounds 3 --steps 10 --warmup 2 --sample-steps 10)
b=(--configs configs/bench-b16.ini --rounds 2 --steps 3 --warmup 1 --sample-steps 2)
cmp fp32-Haswell OPENBLAS_CORETYPE=Haswell -- "${s[@]}" --precision fp32
cmp fp32-SkylakeX OPENBLAS_CORETYPE=SkylakeX -- "${s[@]}" --precision fp32
cmp fp32-own -u OPENBLAS_CORETYPE -- "${s[@]}" --precision fp32
cmp bf16-s -- "${s[@]}" --precision bf16
cmp fp32-b16 -- "${b[@]}" --precision fp32
cmp bf16-b16 -- "${b[@]}" --precision bf16
