#!/usr/bin/env bash
# The mechanism study of docs/results.md, in parts that resume:
#   scripts/study.sh run [jitlike|small|long|all]  train and evaluate every config of a regime at
#                                              equal steps (seed-major), records into results/<regime>/;
#                                              long: the baseline and the PixelDiT decoder (ahead at
#                                              2000 steps) continued to LONG_STEPS (6000) on seed 0,
#                                              to see whether the gap survives longer training
#   scripts/study.sh bench [ROUNDS]            step time of every config on a QUIET machine, with
#                                              the current build (build/)
#                                              (alternating rounds; pauses a running study with
#                                              SIGSTOP and resumes it after), into results/<regime>/bench/
#   scripts/study.sh report                    regenerate docs/results.md and docs/results/*.png
# Budgets (constant learning rate after warm-up, so a larger budget continues
# the recorded runs): JITLIKE_STEPS (2000), SMALL_STEPS (1000), seeds 3 and 2.
# STUDY_NICE (0): the nice level of the training; equal-step results do not
# depend on it, only how fast they come.
# The evaluation protocol is pinned here (Euler, 10 steps), as the study
# began with it: [eval]'s default sampler may change, the curves must not.
# STUDY_THREADS (every core): threads of the training, fixed, so that a run
# resumed later follows the same arithmetic (a thread count chosen from the
# load at start would not).
# STUDY_RUNS ($HOME/pixeldit-study): the runs' folders (checkpoints, curves).
# They live outside the work tree, so a later session on the same machine
# continues a run cut short; only the records under results/ are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
# its own build folder: rebuilding build/ while it runs changes nothing under it
bin=./build-study/cli/pixeldit
what="${1:-run}"
runs="${STUDY_RUNS:-$HOME/pixeldit-study}"
jitlike=(jitlike jitlike-freq jitlike-bilinear jitlike-deco jitlike-pixeldit jitlike-unet)
small=(small small-freq small-bilinear small-deco small-pixeldit small-unet)
# OpenMP threads that sleep instead of spinning when they wait: the study
# shares the machine with other work (docs/benchmarks.md)
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

configs_of() { local -n list="$1"; printf 'configs/%s.ini ' "${list[@]}"; }

run_regime() { # run_regime NAME STEPS SEEDS
  local name="$1" steps="$2" seeds="$3"
  # shellcheck disable=SC2046
  nice -n "${STUDY_NICE:-0}" "$bin" ablate $(configs_of "$name") --steps "$steps" --seeds "$seeds" --eval-every 250 \
    --sampler euler --sample-steps 10 --threads "${STUDY_THREADS:-$(nproc)}" --out "$runs/study-$name" --results "results/$name"
}

case "$what" in
  run)
    BUILD_DIR=build-study scripts/build.sh >/dev/null
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/pixeldit/featnet-fashion-mnist-pad-32px.safetensors"
    [[ -f "$cache" ]] || "$bin" eval --train-features --config configs/small.ini
    regime="${2:-all}"
    if [[ "$regime" == jitlike || "$regime" == all ]]; then run_regime jitlike "${JITLIKE_STEPS:-2000}" 3; fi
    if [[ "$regime" == small || "$regime" == all ]]; then run_regime small "${SMALL_STEPS:-1000}" 2; fi
    if [[ "$regime" == long || "$regime" == all ]]; then
      nice -n "${STUDY_NICE:-0}" "$bin" ablate configs/jitlike.ini configs/jitlike-pixeldit.ini \
        --steps "${LONG_STEPS:-6000}" --seeds 1 --eval-every 250 --sampler euler --sample-steps 10 \
        --threads "${STUDY_THREADS:-$(nproc)}" --out "$runs/study-jitlike" --results results/jitlike
    fi
    ;;
  bench)
    # the code as it stands (build/), not the study's binary: the step
    # times are what a run costs now; each JSON names its commit, and
    # every record names the commit that trained it
    bin=./build/cli/pixeldit
    scripts/build.sh >/dev/null
    rounds="${2:-3}"
    pids=$(pgrep -f "pixeldit ablate .*--out $runs/study-" || true)
    [[ -n "$pids" ]] && kill -STOP $pids
    trap '[[ -n "$pids" ]] && kill -CONT $pids' EXIT
    for r in $(seq 1 "$rounds"); do
      for regime in jitlike small; do
        declare -n list="$regime"
        mkdir -p "results/$regime/bench"
        for c in "${list[@]}"; do
          "$bin" bench "configs/$c.ini" --steps 10 --warmup 2 --sample-steps 0 --no-peak --quiet \
            --json "results/$regime/bench/$c.r$r.json"
          echo "round $r $c: train $(grep -o '"train": {[^}]*' "results/$regime/bench/$c.r$r.json" \
            | grep -o '"median_s": [0-9.e-]*') s per step"
        done
      done
    done
    ;;
  report)
    # the normal build: the report reads files, it need not be the study's binary
    bin=./build/cli/pixeldit
    [[ -x "$bin" ]] || scripts/build.sh >/dev/null
    # the regimes whose baseline has a record so far
    dirs=()
    for regime in jitlike small; do
      compgen -G "results/$regime/$regime/seed*.json" >/dev/null && dirs+=("results/$regime")
    done
    [[ ${#dirs[@]} -gt 0 ]] || { echo "no baseline records under results/ yet" >&2; exit 1; }
    "$bin" report "${dirs[@]}" --notes results/design_notes.ini --text results/notes.md \
      --plots docs/results --link results --out docs/results.md
    ;;
  *) echo "usage: scripts/study.sh run [jitlike|small|all] | bench [ROUNDS] | report" >&2; exit 2 ;;
esac
