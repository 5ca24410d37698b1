#!/bin/bash
# Issue 25's decoder check: the training step of each small decoder preset
# against the small baseline, fp32, alternating the four configs in each
# round; a decoder's overhead is the median over rounds of its step time
# divided by the baseline's in the same round (the machine's speed drifts
# between rounds more than the configs differ within one). Pauses a
# running study (bench/pause_study.sh); run it with nothing else running.
#
#     bench/decoder_bounds.sh [ROUNDS] [OUTDIR]   # defaults 6, results/bench/decoder_bounds
#
# Prints one line per decoder: overhead, range over rounds, FLOP overhead
# and issue 25's bound (FLOP overhead + 10 points); the JSON of every run
# stays in OUTDIR.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
rounds=${1:-6}
out=${2:-results/bench/decoder_bounds}
mkdir -p "$out"
[[ -x build/cli/pixeldit ]] || scripts/build.sh >/dev/null
source bench/pause_study.sh
configs=(small small-deco small-pixeldit small-unet)
for r in $(seq 1 "$rounds"); do
  for c in "${configs[@]}"; do
    build/cli/pixeldit bench "configs/$c.ini" --steps 10 --warmup 2 --sample-steps 0 --no-peak --quiet \
      --json "$out/$c.r$r.json" >/dev/null 2>&1 || { echo "bench $c failed" >&2; exit 1; }
  done
  echo "round $r done" >&2
done
/usr/bin/python3 - "$out" "$rounds" "${configs[@]}" <<'PY'
import json, statistics, sys
out, rounds, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
load = lambda c, r: json.load(open(f"{out}/{c}.r{r}.json"))
base = [load(configs[0], r) for r in range(1, rounds + 1)]
j0 = base[0]
print(f"{j0['machine']['cpu']}, {j0['threads']} threads, OpenBLAS {j0['blas_core']}; {rounds} rounds")
print(f"{configs[0]}: median step {statistics.median(b['train']['median_s'] for b in base):.3f} s")
for c in configs[1:]:
    js = [load(c, r) for r in range(1, rounds + 1)]
    ratio = [j['train']['median_s'] / b['train']['median_s'] for j, b in zip(js, base)]
    flop = js[0]['flops_per_image'] / j0['flops_per_image'] - 1
    m = statistics.median(ratio) - 1
    bound = flop + 0.10
    print(f"{c}: overhead {100 * m:+.1f}% [{100 * (min(ratio) - 1):+.0f}, {100 * (max(ratio) - 1):+.0f}], "
          f"FLOP overhead {100 * flop:+.0f}%, bound {100 * bound:+.0f}%: {'met' if m <= bound else 'NOT met'}")
PY
