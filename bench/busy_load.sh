#!/bin/bash
# Training speed beside busy processes (issue 25, "fair share"): bench-s
# training, quiet and beside one and two NORMAL-priority busy loops, with
# the default thread count ([train] threads = 0: the cores free at start)
# and with every core (--threads NPROC, the default before 2026-12-07).
# Fair share = quiet speed x cores / runnable processes (pixeldit counts
# as one); the table prints each speed as a fraction of it.
#
#     bench/busy_load.sh [OUTDIR]     # bench JSON per case (default results/bench/busy_load)
#
# Run on an otherwise quiet machine (pause a study: SIGSTOP). The busy
# loops are killed on exit, also on failure or interrupt.
cd "$(dirname "$0")/.." || exit 1
out=${1:-results/bench/busy_load}
mkdir -p "$out"
PIDS=()
stop_busy() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait "${PIDS[@]}" 2>/dev/null; PIDS=(); }
trap stop_busy EXIT INT TERM
cores=$(nproc)
bench() { # name [args...] -> median training seconds per step
  local name=$1; shift
  build/cli/pixeldit bench configs/bench-s.ini --steps 10 --warmup 2 --sample-steps 0 --no-peak --quiet \
    --json "$out/$name.json" "$@" >/dev/null 2>&1
  grep -o '"train": {[^}]*' "$out/$name.json" | grep -o '"median_s": [0-9.e-]*' | awk '{print $2}'
}
threads_of() { grep -o '"threads": [0-9]*' "$out/$1.json" | head -1 | awk '{print $2}'; }
exec > >(tee "$out/table.txt") # the table is kept beside the JSON files
quiet=$(bench quiet)
printf '%-8s %-10s %8s %12s %8s\n' load threads "s/step" "quiet speed" "fair share"
printf '%-8s %-10s %8.3f %11.0f%% %8s\n' quiet "$(threads_of quiet)" "$quiet" 100 -
for busy in 1 2; do
  stop_busy
  for i in $(seq 1 "$busy"); do sh -c 'while :; do :; done' & PIDS+=($!); done
  sleep 1
  fair=$(awk -v c="$cores" -v b="$busy" 'BEGIN { r = b + 1; f = c / r; print (f > 1 ? 1 : f) }')
  for mode in default all; do
    name="busy${busy}-$mode"
    if [[ $mode == all ]]; then t=$(bench "$name" --threads "$cores"); else t=$(bench "$name"); fi
    awk -v q="$quiet" -v t="$t" -v f="$fair" -v l="busy $busy" -v th="$(threads_of "$name") ($mode)" \
      'BEGIN { s = q / t; printf "%-8s %-10s %8.3f %11.0f%% %7.0f%%\n", l, th, t, 100 * s, 100 * s / f }'
  done
done
