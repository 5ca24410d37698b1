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
#   scripts/study.sh status                    what is done, what is under way (its step), what is
#                                              left, and the CPU time that will take at the
#                                              bench step times (plus the curve points' evaluations)
# Budgets (constant learning rate after warm-up, so a larger budget continues
# the recorded runs): JITLIKE_STEPS (2000), SMALL_STEPS (1000); seeds
# JITLIKE_SEEDS (3) and SMALL_SEEDS (2). JITLIKE_CONFIGS, SMALL_CONFIGS
# (every config of the regime): the configs to run, names without .ini, the
# baseline first; more seeds for the undecided mechanisms only, e.g.
#   JITLIKE_SEEDS=6 JITLIKE_CONFIGS="jitlike jitlike-deco jitlike-pixeldit" \
#     scripts/study.sh run jitlike
# (a config keeps its run folder when the list changes: ablate finds it by
# its run key).
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
read -ra jitlike <<<"${JITLIKE_CONFIGS:-jitlike jitlike-freq jitlike-bilinear jitlike-deco jitlike-pixeldit jitlike-unet}"
read -ra small <<<"${SMALL_CONFIGS:-small small-freq small-bilinear small-deco small-pixeldit small-unet}"
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
    if [[ "$regime" == jitlike || "$regime" == all ]]; then
      run_regime jitlike "${JITLIKE_STEPS:-2000}" "${JITLIKE_SEEDS:-3}"
    fi
    if [[ "$regime" == small || "$regime" == all ]]; then run_regime small "${SMALL_STEPS:-1000}" "${SMALL_SEEDS:-2}"; fi
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
  status)
    /usr/bin/python3 - "$runs" "${JITLIKE_STEPS:-2000}" "${SMALL_STEPS:-1000}" "${LONG_STEPS:-6000}" \
      "${jitlike[*]}" "${small[*]}" "${JITLIKE_SEEDS:-3}" "${SMALL_SEEDS:-2}" <<'PY'
import glob, json, os, statistics, sys
runs, js, ss, ls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
regimes = {"jitlike": (sys.argv[5].split(), int(sys.argv[7]), js), "small": (sys.argv[6].split(), int(sys.argv[8]), ss)}
EVERY = 250  # --eval-every of `run`
def load(path):
    try:
        with open(path) as f: return json.load(f)
    except (OSError, ValueError): return None
def step_time(regime, cfg):
    ts = [j["train"]["median_s"] for j in map(load, glob.glob(f"results/{regime}/bench/{cfg}.r*.json")) if j]
    return statistics.median(ts) if ts else None
def eval_seconds(regime, cfg):
    # a curve point evaluates EMA 1 and raw weights; a regime with no
    # records yet borrows the other regime's cost for the same mechanism
    other = "small" if regime == "jitlike" else "jitlike"
    for reg, c in ((regime, cfg), (regime, regime), (other, cfg.replace(regime, other, 1)), (other, other)):
        for r in map(load, sorted(glob.glob(f"results/{reg}/{c}/seed*.json"))):
            pts = [p["eval_seconds"] for p in (r or {}).get("curve", []) if "eval_seconds" in p]
            if pts: return statistics.median(pts) * 2
    return None
def current_step(regime, i, cfg, seed):
    # any position: a config keeps its folder when the list changes
    best = 0
    for log in glob.glob(f"{runs}/study-{regime}/*-{cfg}/seed{seed}/log.csv"):
        try:
            with open(log) as f: rows = [l.split(",", 1)[0] for l in f if l[:1].isdigit()]
            best = max(best, int(rows[-1]) if rows else 0)
        except (OSError, ValueError): pass
    return best
plan = []  # (regime, config index, config, seed, target steps)
for regime in ("jitlike", "small"):
    cfgs, seeds, steps = regimes[regime]
    plan += [(regime, i, c, k, steps) for k in range(seeds) for i, c in enumerate(cfgs)]
plan += [("jitlike", i, c, 0, ls) for i, c in enumerate(regimes["jitlike"][0]) if c in ("jitlike", "jitlike-pixeldit")]
total, unknown = 0.0, []
print(f"{'regime':8} {'config':18} {'seed':>4} {'target':>6}  state")
for regime, i, cfg, seed, target in plan:
    rec = load(f"results/{regime}/{cfg}/seed{seed}.json")
    done = rec["steps"] if rec else 0
    if done >= target:
        state, left = f"done ({done} steps)", 0
    else:
        at = max(done, current_step(regime, i, cfg, seed))
        left = target - at
        state = f"at step {at}" if at else "not started"
        t, e = step_time(regime, cfg), eval_seconds(regime, cfg)
        if t is None or e is None: unknown.append(cfg)
        else:
            secs = left * t + (target // EVERY - at // EVERY) * e
            total += secs
            state += f", about {secs / 60:.0f} min left"
    print(f"{regime:8} {cfg:18} {seed:>4} {target:>6}  {state}")
print(f"left: about {total / 3600:.1f} CPU-hours of this machine at the bench step times"
      + (f" (no step time or evaluation cost yet for: {', '.join(sorted(set(unknown)))})" if unknown else ""))
PY
    ;;
  *) echo "usage: scripts/study.sh run [jitlike|small|long|all] | bench [ROUNDS] | report | status" >&2; exit 2 ;;
esac
