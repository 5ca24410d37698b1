#!/usr/bin/env bash
# End-to-end checks of `pixeldit eval` and `pixeldit ablate` on a tiny model:
# the missing-feature-network error, --train-features into a test-only cache
# (XDG_CACHE_HOME), eval of a checkpoint and of a PNG folder with --json, a
# refused mismatched cache file, and a two-config ablation that resumes.
# Usage: eval_ablate.sh PIXELDIT_BINARY
set -u
bin="$1"
tmp=$(mktemp -d /tmp/pixeldit-eval-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
fails=0
source "$(dirname "$0")/check.sh" || exit 1
e2e=$(cd "$(dirname "$0")" && pwd) # tiny.ini, the shared tiny model
expect_file() { # expect_file NAME PATH REGEX
  if [[ -f "$2" ]] && grep -q -- "$3" "$2"; then echo "ok   $1"; else
    echo "FAIL $1: $2 missing or lacks '$3'"
    fails=$((fails + 1))
  fi
}

# image_size and lr are repeated here because the checks below edit them
cat >"$tmp/a.ini" <<INI
[config]
base = $e2e/tiny.ini
[model]
image_size = 16
[train]
lr = 1e-3
ckpt_every = 0
INI
# the second config: another loss and one key outside the plugin sections
sed -e 's/lr = 1e-3/lr = 2e-3/' "$tmp/a.ini" >"$tmp/b.ini"
printf '[loss]\nplugin = v_loss, freq_loss\n' >>"$tmp/b.ini"

check "train a tiny model" 0 "$bin" train "$tmp/a.ini" --out "$tmp/run" --steps 2 --quiet
ck="$tmp/run/checkpoint-last.safetensors"
check "eval without a feature network" 1 "$bin" eval --ckpt "$ck" --n 20 --steps 1
expect_in_output "the error says what to run" "pixeldit eval --train-features"
check "train the feature network" 0 "$bin" eval --train-features --config "$tmp/a.ini" --limit 2000 --epochs 1
expect_in_output "its test accuracy is printed" "test accuracy 0\.[0-9]"
ls "$tmp/cache/pixeldit"/featnet-*-16px.safetensors >/dev/null 2>&1 \
  && echo "ok   cached under XDG_CACHE_HOME/pixeldit" || { echo "FAIL no cache file"; fails=$((fails + 1)); }
check "eval a checkpoint" 0 "$bin" eval --ckpt "$ck" --n 40 --steps 2 --sampler euler --seed 3 \
  --json "$tmp/e.json" --ceiling
expect_in_output "FD printed" "FD  *[0-9]"
expect_in_output "class accuracy printed" "class accuracy"
expect_in_output "grid score printed" "grid score"
expect_in_output "FD ceiling printed" "FD ceiling"
expect_in_output "settings printed" "n 40, sampler euler, schedule uniform, steps 2, cfg 3.00, ema 1, seed 3"
expect_file "--json written" "$tmp/e.json" '"fd": [0-9]'
expect_file "--json has the seed" "$tmp/e.json" '"seed": 3'
check "sample a folder" 0 "$bin" sample --ckpt "$ck" --out-dir "$tmp/pngs" --n 2 --steps 1 --sampler euler
check "eval a PNG folder" 0 "$bin" eval --images "$tmp/pngs" --config "$tmp/a.ini"
expect_in_output "folder FD printed" "FD  *[0-9]"
check "eval --images needs a config" 2 "$bin" eval --images "$tmp/pngs"
check "eval --ckpt with --config refused" 2 "$bin" eval --ckpt "$ck" --config "$tmp/a.ini"
# a cache file for another size is refused by name, not used
cp "$tmp/cache/pixeldit"/featnet-*-16px.safetensors "$tmp/cache/pixeldit/featnet-fashion-mnist-resize-20px.safetensors"
sed -e 's/image_size = 16/image_size = 20/' "$tmp/a.ini" >"$tmp/c.ini"
check "mismatched cache refused" 1 "$bin" eval --images "$tmp/pngs" --config "$tmp/c.ini"
expect_in_output "the mismatch is named" "is for fashion-mnist-resize (16x16"

check "ablate two configs" 0 "$bin" ablate "$tmp/a.ini" "$tmp/b.ini" --steps 2 --n 20 --sample-steps 1 \
  --out "$tmp/abl"
expect_in_output "differing keys printed" "train.lr: 0.001 | 0.002"
expect_file "ablation.md has the baseline row" "$tmp/abl/ablation.md" "| a.ini | jit_final_layer | v_loss |"
expect_file "ablation.md has the second row" "$tmp/abl/ablation.md" "| b.ini | jit_final_layer | v_loss+freq_loss |"
expect_file "ablation.json" "$tmp/abl/ablation.json" '"fd_change_pct"'
[[ -s "$tmp/abl/ablation.png" ]] && echo "ok   ablation.png" || { echo "FAIL ablation.png"; fails=$((fails + 1)); }
cp "$tmp/abl/ablation.md" "$tmp/first.md"
check "ablate resumes" 0 "$bin" ablate "$tmp/a.ini" "$tmp/b.ini" --steps 2 --n 20 --sample-steps 1 \
  --out "$tmp/abl"
expect_in_output "finished runs are skipped" "done before"
cmp -s "$tmp/first.md" "$tmp/abl/ablation.md" && echo "ok   resumed table identical" \
  || { echo "FAIL resumed table differs"; fails=$((fails + 1)); }
sed -i 's/lr = 2e-3/lr = 3e-3/' "$tmp/b.ini"
check "ablate after a config change" 0 "$bin" ablate "$tmp/a.ini" "$tmp/b.ini" --steps 2 --n 20 --sample-steps 1 \
  --out "$tmp/abl"
expect_in_output "the changed config is run again" "ablate: .*b.ini, seed 0 ->"
expect_in_output "the unchanged one is not" "pixeldit: a seed 0: done before"
check "ablate after a [sample] change" 0 "$bin" ablate "$tmp/a.ini" "$tmp/b.ini" --steps 2 --n 20 \
  --sample-steps 1 --out "$tmp/abl" --set sample.steps=7 --set sample.sampler=dpm++2m
expect_in_output "[sample] is not in the run key" "pixeldit: b seed 0: done before"
# the study machinery: curves, two seeds, records under a results folder,
# bench step times, the report; then a longer budget continues the runs
check "ablate with curves and two seeds" 0 "$bin" ablate "$tmp/a.ini" "$tmp/b.ini" --steps 2 --seeds 2 \
  --eval-every 1 --n 20 --sample-steps 1 --threads 1 --out "$tmp/study" --results "$tmp/res/a"
expect_in_output "--threads pins the training (not the free cores)" "warm-up .* steps, 1 threads,"
expect_file "eval.csv has a row per step and weights" "$tmp/study/1-b/seed1/eval.csv" '^2,16,.*,raw,20,unipc,1,1,'
expect_file "eval.csv header" "$tmp/study/0-a/seed0/eval.csv" '^step,images,train_seconds,train_gflops,weights'
for f in a/seed0 a/seed1 b/seed0 b/seed1; do
  expect_file "record $f" "$tmp/res/a/$f.json" '"format": "pixeldit-run-1"'
done
expect_file "the record names the machine" "$tmp/res/a/a/seed1.json" '"machine": {"cpu": '
expect_file "the record holds the curve" "$tmp/res/a/b/seed0.json" '"kid_rand": '
expect_file "the record holds the config" "$tmp/res/a/b/seed0.json" 'freq_loss'
mkdir -p "$tmp/res/a/bench"
for c in a b; do
  check "bench $c for the step time" 0 "$bin" bench "$tmp/$c.ini" --steps 2 --warmup 1 --sample-steps 0 --no-peak \
    --quiet --json "$tmp/res/a/bench/$c.json"
done
check "report" 0 "$bin" report "$tmp/res/a" --out "$tmp/page.md" --plots "$tmp/plots"
expect_file "report: verdict table" "$tmp/page.md" '^## Verdict'
expect_file "report: equal steps" "$tmp/page.md" '^### At equal steps (2)'
expect_file "report: paired difference with an interval" "$tmp/page.md" '^| b | jit_final_layer | v_loss+freq_loss | 2 | .* \[.*, .*\]'
expect_file "report: equal compute" "$tmp/page.md" '^### At equal compute'
[[ -s "$tmp/plots/a_fd_steps.png" && -s "$tmp/plots/a_fd_seconds.png" ]] && echo "ok   report plots" \
  || { echo "FAIL report plots"; fails=$((fails + 1)); }
# step times from rounds of alternating timings: another config's is the
# baseline's median times its median ratio within a round (b: ratios 3.0,
# 1.1, 1.1 -> 1.1 x 2.0 = 2.2 s, where the median of its own files is 3.0)
mkdir -p "$tmp/paired/a/bench" && cp -r "$tmp/res/a/a" "$tmp/res/a/b" "$tmp/paired/a/"
for f in a.r1:1.0 a.r2:2.0 a.r3:4.0 b.r1:3.0 b.r2:2.2 b.r3:4.4; do
  printf '{"train": {"median_s": %s}}' "${f#*:}" >"$tmp/paired/a/bench/${f%%:*}.json"
done
check "report from paired rounds" 0 "$bin" report "$tmp/paired/a" --out "$tmp/paired.md" --plots "$tmp/plots"
expect_file "step time from the paired ratio" "$tmp/paired.md" '^| b | 2.2000 | +10% |'
# the verdict: FD sees nothing (b - a per seed: +1, -1), the random
# network's space sees b better (-5.0, -5.1): undecided, saying where, not
# "drop"
for f in a/seed0:10:10 a/seed1:10:10 b/seed0:11:5 b/seed1:9:4.9; do
  IFS=: read -r rec fd fr <<<"$f"
  sed -i -E "s/\"fd\": [-0-9.e+]+/\"fd\": $fd/g; s/\"fd_rand\": [-0-9.e+]+/\"fd_rand\": $fr/g" \
    "$tmp/paired/a/$rec.json"
done
printf '[b]\nmechanism = mechanism b\nfid_gain = 10%%\noverhead = +5%%\n' >"$tmp/notes.ini"
check "report: FD and the random network's space disagree" 0 "$bin" report "$tmp/paired/a" \
  --notes "$tmp/notes.ini" --out "$tmp/verdict.md" --plots "$tmp/plots"
expect_file "verdict: undecided, naming the space" "$tmp/verdict.md" \
  '^| mechanism b |.*\*\*undecided\*\*: no effect on FD, better in the random network.s space (`a` at equal'
expect_file "against the notes: an interval holding both" "$tmp/verdict.md" \
  '^  - `a`: FD +0% \[.*\] at equal steps (2 seeds, step 2): cannot tell yet .* Step time +10% (the notes: +5%)'
# b worse than a by 1.0 and 1.1 FD (10%, 11%): the interval excludes the
# notes' 10% gain, and the page says so
for f in b/seed0:11 b/seed1:11.1; do
  IFS=: read -r rec fd <<<"$f"
  sed -i -E "s/\"fd\": [-0-9.e+]+/\"fd\": $fd/g" "$tmp/paired/a/$rec.json"
done
check "report: a measurement against the notes" 0 "$bin" report "$tmp/paired/a" \
  --notes "$tmp/notes.ini" --out "$tmp/verdict2.md" --plots "$tmp/plots"
expect_file "against the notes: contradicted, plainly" "$tmp/verdict2.md" \
  '^  - `a`: FD +10% \[+4%, +17%\] at equal steps .*\*\*contradicts the notes\*\*, whose smallest predicted gain (FD 10% lower)'
# a run continued past the common step (issue 24's long runs): seed 0 of
# a and b go to step 6, seed 1 stops at 2. On 3-point means a's FD is 7 at
# step 4 and 5 at step 6 (28.6% lower over the last third); b's is 1.00
# lower at equal steps, and at equal compute (b read at 6 x 2.0/2.2 =
# 5.45, the mean of b at 5.45, 4.45, 3.45: 4.55) 0.45 lower
if [[ -x /usr/bin/python3 ]]; then
  /usr/bin/python3 - "$tmp/paired/a" <<'PY'
import json, sys
d = sys.argv[1]
for rec, fds in (("a/seed0", [10, 8, 7, 6, 5, 4]), ("b/seed0", [9, 7, 6, 5, 4, 3])):
    r = json.load(open(f"{d}/{rec}.json"))
    proto = {w: next(p for p in r["curve"] if p["weights"] == w) for w in ("ema1", "raw")}
    r["curve"] = [dict(proto[w], step=s + 1, fd=fd) for s, fd in enumerate(fds) for w in ("ema1", "raw")]
    r["steps"] = len(fds)
    json.dump(r, open(f"{d}/{rec}.json", "w"))
PY
  check "report: runs continued past the common step" 0 "$bin" report "$tmp/paired/a" --out "$tmp/long.md" \
    --plots "$tmp/plots"
  expect_file "long runs: a table" "$tmp/long.md" '^### Runs continued past step 2'
  expect_file "long runs: equal steps and compute on 3-point means" "$tmp/long.md" \
    '^| b | 0 | 6 | 4.00 | 5.00 | -1.00 | 5 | 4.55 | -0.45 |'
  expect_file "long runs: the baseline's plateau" "$tmp/long.md" \
    'FD 7.00 at step 4, 5.00 at step 6, 28.6% lower over the last third'
  [[ -s "$tmp/plots/a_fd_long.png" ]] && echo "ok   long runs: plot" || { echo "FAIL long runs: plot"; fails=$((fails + 1)); }
fi
check "a longer budget continues the recorded runs" 0 "$bin" ablate "$tmp/a.ini" "$tmp/b.ini" --steps 3 --seeds 2 \
  --eval-every 1 --n 20 --sample-steps 1 --out "$tmp/study" --results "$tmp/res/a"
expect_in_output "from its checkpoint" "resum"
expect_file "the curve grew" "$tmp/res/a/b/seed1.json" '"step": 3,'
# b alone is config 0 now: its run folder is still 1-b (found by its run
# key), continued from step 3, not retrained from 0 in a new 0-b
check "a config listed at another position continues its run" 0 "$bin" ablate "$tmp/b.ini" --steps 4 --seeds 1 \
  --eval-every 1 --n 20 --sample-steps 1 --out "$tmp/study"
expect_in_output "the moved run's folder is found" "b seed 0: continuing its folder .*/1-b/seed0"
expect_in_output "and continued from its checkpoint" "resuming .*/1-b/seed0 from its checkpoint at step 3"
[[ ! -e "$tmp/study/0-b" ]] && echo "ok   no second folder for the same run" \
  || { echo "FAIL a second folder for the same run"; fails=$((fails + 1)); }
# a folder named under an older run-key rule (its run_key.txt a hash the
# current rules do not make) whose record stores the same config continues
# from its checkpoint, and takes the current key
mkdir -p "$tmp/keyrule/0-b" && cp -r "$tmp/study/1-b/seed0" "$tmp/keyrule/0-b/"
echo 0123456789abcdef >"$tmp/keyrule/0-b/seed0/run_key.txt"
check "a run named under an older key rule continues" 0 "$bin" ablate "$tmp/b.ini" --steps 5 --seeds 1 \
  --eval-every 1 --n 20 --sample-steps 1 --out "$tmp/keyrule"
expect_in_output "from its checkpoint" "resuming .*/keyrule/0-b/seed0 from its checkpoint at step 4"
cmp -s "$tmp/keyrule/0-b/seed0/run_key.txt" "$tmp/study/1-b/seed0/run_key.txt" \
  && echo "ok   the folder takes the current key" || { echo "FAIL the folder kept the old key"; fails=$((fails + 1)); }
check "report without a baseline's records" 1 "$bin" report "$tmp/res" --out "$tmp/p2.md" --plots "$tmp/plots"
expect_in_output "the missing baseline is named" "no records of the baseline config 'res'"
printf '{"format": "pixeldit-run-1", "curve": 5}' >"$tmp/res/a/a/seed7.json"
check "a broken record is refused" 1 "$bin" report "$tmp/res/a" --out "$tmp/p3.md" --plots "$tmp/plots"
expect_in_output "naming the file" "seed7.json: expected an array \"curve\""
# eval.csv is appended to: a FIFO there is refused at once, not waited on
mkdir -p "$tmp/fiforun" && mkfifo "$tmp/fiforun/eval.csv"
check "an eval.csv FIFO is refused" 1 timeout 120 "$bin" train "$tmp/a.ini" --steps 1 --set eval.every=1 \
  --set eval.n=8 --out "$tmp/fiforun"
expect_in_output "and named" "eval.csv: not a regular file (found a FIFO)"

# a hostile checkpoint in an ablation folder (issue 27): its stored config or
# plugin record names a .so whose constructor would leave a mark; resuming
# the ablation must go through train --resume's checks with the given config
# and never load it. Same-length edits keep the safetensors header valid.
if command -v cc >/dev/null; then
  printf '#include <stdio.h>\n#include <stdlib.h>\n__attribute__((constructor)) static void mark(void) {\n'\
'  const char *p = getenv("PD_EVIL_MARK"); FILE *f = p ? fopen(p, "w") : NULL; if (f) fclose(f); }\n' >"$tmp/evil.c"
  evil=/tmp/pdevil7.so # 15 characters, as jit_final_layer
  if cc -shared -fPIC -o "$evil" "$tmp/evil.c" 2>/dev/null; then
    export PD_EVIL_MARK="$tmp/PWNED"
    for edit in 'plugin = jit_final_layer|plugin = /tmp/pdevil7.so' 'decoder=jit_final_layer@|decoder=/tmp/pdevil7.so@'; do
      ck="$tmp/study/0-a/seed0/checkpoint-last.safetensors"
      LC_ALL=C sed "s|$edit|" "$ck" >"$tmp/ck.edit" && mv "$tmp/ck.edit" "$ck"
      rm -f "$tmp/study/0-a/seed0/result.json" "$tmp/res/a/a/seed0.json"
      "$bin" ablate "$tmp/a.ini" --steps 4 --eval-every 1 --n 20 --sample-steps 1 --out "$tmp/study" \
        --results "$tmp/res/a" >"$tmp/out" 2>&1
      [[ ! -e "$tmp/PWNED" ]] && echo "ok   ablate resume never loads a .so named by a checkpoint (${edit%%|*})" \
        || { echo "FAIL ablate resume ran a constructor from a checkpoint (${edit%%|*})"; fails=$((fails + 1)); }
    done
    unset PD_EVIL_MARK
  fi
fi
check "eval --help" 0 "$bin" eval --help
check "ablate --help" 0 "$bin" ablate --help
expect_in_output "--help documents the curve" "--eval-every N"
expect_in_output "--help documents seeds" "--seeds K"
expect_in_output "--help documents the equal-compute view" "Equal compute: \`pixeldit report\`"
check "report --help" 0 "$bin" report --help
check "ablate needs a budget" 2 "$bin" ablate "$tmp/a.ini" --out "$tmp/x"
long="$tmp/$(printf 'd%.0s' $(seq 1 850))"
check "ablate refuses an over-long --out" 1 "$bin" ablate "$tmp/a.ini" --steps 1 --n 20 --out "$long"
expect_in_output "the limit is named" "ablate: --out: expected a folder path of at most 800 bytes"
# the study's status: runs read from the committed records and a run
# folder with nothing in it
if [[ -x /usr/bin/python3 ]]; then
  check "study.sh status" 0 env STUDY_RUNS="$tmp/no-runs" "$e2e/../../scripts/study.sh" status
  expect_in_output "every planned run has a line" "^small  *small-unet  *1  *1000 "
  expect_in_output "the time left is estimated" "^left: about [0-9.]* CPU-hours"
fi

echo "eval_ablate: $fails failure(s)"
[[ $fails -eq 0 ]]
