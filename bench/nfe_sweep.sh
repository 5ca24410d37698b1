#!/usr/bin/env bash
# Quality against network evaluations (NFE) for every sampler (issue 26):
# `pixeldit eval` of one checkpoint at NFE 5, 10, 15, 20, 30, 50, 99 per
# sampler, one CSV row per run, then the table and plots of docs/sampling.md.
#
#   bench/nfe_sweep.sh run CKPT [CSV] [N]   # runs the rows CSV lacks (resumable), appends them
#   bench/nfe_sweep.sh report [CSV]         # CSV -> docs/sampling.md table + docs/sampling_nfe_*.png
#
# CSV defaults to results/sampling/nfe_small.csv, N to 1000 images (EMA 1,
# the checkpoint's [sample] cfg, interval and seed; each sampler's default
# schedule). Environment: PIXELDIT (default build/cli/pixeldit), NICE (19),
# SAMPLERS ("dpm++2m unipc heun euler"), NFES ("10 20 99 15 5 30 50": the
# order the rows run in, the informative ones first).
# PAUSE (/tmp/nfe-sweep.pause): while this file exists, the sweep waits
# before its next row (a quiet window for other timings without corrupting
# a row's images/s).
# Heun takes 2 steps - 1 evaluations, so its NFE 10, 20, 30, 50 are 9, 19,
# 29, 49; the CSV holds the NFE each run really took.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${PIXELDIT:-$root/build/cli/pixeldit}
nice=${NICE:-19}
header="sampler,schedule,steps,nfe,n,ema,cfg,fd,fd_floor,class_accuracy,grid_score,grid_score_real,seconds,images_per_s,ckpt_step"

steps_for() { # sampler nfe -> steps (pd_sampler_steps_for_nfe)
  if [[ $1 == heun ]]; then echo $((($2 + 1) / 2)); else echo "$2"; fi
}
json_num() { # key file -> value
  sed -n "s/^ *\"$1\": \([-0-9.eE+]*\|null\),\{0,1\}$/\1/p" "$2" | head -1
}

run() {
  local ckpt=$1 csv=${2:-$root/results/sampling/nfe_small.csv} n=${3:-1000}
  mkdir -p "$(dirname "$csv")"
  [[ -s $csv ]] || echo "$header" >"$csv"
  local step
  step=$("$bin" info "$ckpt" | sed -n 's/^step: *\([0-9]*\).*/\1/p' | head -1)
  local tmp
  tmp=$(mktemp -d /tmp/nfe-sweep-XXXXXX)
  trap 'rm -rf "$tmp"' RETURN
  for nfe in ${NFES:-10 20 99 15 5 30 50}; do
    for s in ${SAMPLERS:-dpm++2m unipc heun euler}; do
      local k
      k=$(steps_for "$s" "$nfe")
      if grep -q "^$s,[^,]*,$k,[^,]*,$n,.*,$step\$" "$csv"; then continue; fi # done for this checkpoint
      while [[ -e ${PAUSE:-/tmp/nfe-sweep.pause} ]]; do sleep 5; done
      echo "== $s, $k steps, n $n" >&2
      nice -n "$nice" "$bin" eval --ckpt "$ckpt" --n "$n" --sampler "$s" --steps "$k" --ema 1 \
        --json "$tmp/r.json" >"$tmp/out.txt"
      local j=$tmp/r.json sched
      sched=$(sed -n 's/.*schedule \([a-z-]*\),.*/\1/p' "$tmp/out.txt" | head -1)
      echo "$s,$sched,$k,$(json_num nfe "$j"),$n,1,$(json_num cfg "$j"),$(json_num fd "$j"),$(json_num fd_floor "$j"),$(json_num class_accuracy "$j"),$(json_num grid_score "$j"),$(json_num grid_score_real "$j"),$(json_num seconds "$j"),$(json_num sample_images_per_s "$j"),$step" >>"$csv"
      tail -1 "$csv" >&2
    done
  done
}

report() {
  local csv=${1:-$root/results/sampling/nfe_small.csv} md=$root/docs/sampling.md
  local table
  table=$(mktemp /tmp/nfe-table-XXXXXX)
  {
    echo "| sampler | schedule | steps | NFE | FD | class accuracy | grid score | images/s |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    tail -n +2 "$csv" | sort -t, -k1,1 -k4,4n |
      awk -F, '{ printf "| %s | %s | %s | %s | %.3f | %.4f | %.3f | %s |\n", $1, $2, $3, $4, $8, $10, $11, $14 }'
  } >"$table"
  # the table sits between two marker lines of docs/sampling.md
  awk -v t="$table" '
    /<!-- nfe-table-begin -->/ { print; while ((getline l < t) > 0) print l; skip = 1; next }
    /<!-- nfe-table-end -->/ { skip = 0 }
    !skip { print }' "$md" >"$md.tmp" && mv "$md.tmp" "$md"
  rm -f "$table"
  "$bin" plot "$csv" --x nfe --y fd --group sampler --title "FD against NFE per image (lower is better)" \
    --out "$root/docs/sampling_nfe_fd.png"
  "$bin" plot "$csv" --x nfe --y class_accuracy --group sampler \
    --title "class accuracy against NFE per image" --out "$root/docs/sampling_nfe_class_accuracy.png"
  "$bin" plot "$csv" --x nfe --y grid_score --group sampler \
    --title "grid score against NFE per image" --out "$root/docs/sampling_nfe_grid_score.png"
}

case ${1:-} in
  run) shift; [[ $# -ge 1 ]] || { echo "usage: $0 run CKPT [CSV] [N]" >&2; exit 2; }; run "$@" ;;
  report) shift; report "$@" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
