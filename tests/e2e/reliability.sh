#!/usr/bin/env bash
# Issue 10 regressions that need the command: stops during set-up, a run
# never replacing a run, stale temp files, log.csv on resume, write errors,
# long paths, `info` reading only the header, and a bounded kill -9 test
# during checkpoint writes.
# Usage: reliability.sh PIXELDIT_BINARY
set -u
bin="$1"
tmp=$(mktemp -d /tmp/pixeldit-rel-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
source "$(dirname "$0")/check.sh" || exit 1
e2e=$(cd "$(dirname "$0")" && pwd) # tiny.ini, the shared tiny model

cat >"$tmp/tiny.ini" <<INI
[config]
base = $e2e/tiny.ini
[train]
ckpt_every = 0
INI
train() { "$bin" train "$tmp/tiny.ini" --quiet "$@"; }

# item 5: a stop during set-up (loading 60000 images) ends the run at once
# and writes nothing; it used to be ignored until a step-0 checkpoint was saved
for sig in INT TERM; do
  "$bin" train "$tmp/tiny.ini" --quiet --out "$tmp/setup_$sig" --set data.limit=0 >"$tmp/out" 2>&1 &
  pid=$!
  sleep 0.15
  kill -s "$sig" "$pid"
  wait "$pid"
  rc=$?
  expect "SIG$sig during set-up stops the run (exit $rc)" test "$rc" -ge 128
  expect "SIG$sig during set-up saves nothing" test ! -e "$tmp/setup_$sig/checkpoint-last.safetensors"
done

# item 6: a fresh run into a folder holding a run is refused; --force starts over
run="$tmp/run"
ck="$run/checkpoint-last.safetensors"
check "train 3 steps" 0 train --out "$run" --steps 3
cp "$ck" "$tmp/ck.bak"
cp "$run/log.csv" "$tmp/log.bak"
check "fresh run over a run refused" 1 train --out "$run" --steps 1
expect_in_output "refusal names --resume and --force" "--resume.*--force"
expect "checkpoint untouched" cmp -s "$ck" "$tmp/ck.bak"
expect "log.csv untouched" cmp -s "$run/log.csv" "$tmp/log.bak"
check "--force starts over" 0 train --out "$tmp/run_forced" --steps 1
cp -r "$run" "$tmp/run_force2"
check "--force over a run" 0 train --out "$tmp/run_force2" --steps 1 --force
expect "--force replaced the run (step 1)" grep -q '"step":"1"' "$tmp/run_force2/checkpoint-last.safetensors"

# item 7: stale temp files removed; log.csv cut back to the checkpoint's step
sh -c 'exit 0' &
dead=$!
wait "$dead"
: >"$run/checkpoint-last.safetensors.tmp.$dead"
printf '4,0,0.5,0.001,1.0\n5,0,0.5,0.001,1.0\n6,0,0.5' >>"$run/log.csv"
check "resume after a kill" 0 train --out "$run" --steps 2 --resume "$ck"
expect "stale temp file removed" test ! -e "$run/checkpoint-last.safetensors.tmp.$dead"
steps=$(tail -n +2 "$run/log.csv" | cut -d, -f1 | tr '\n' ' ')
expect "log.csv holds steps 1..5 once each (got: $steps)" test "$steps" = "1 2 3 4 5 "

# item 7: a write error on log.csv stops the run; the checkpoint stays
if [[ -w /dev/full ]]; then
  cp "$ck" "$tmp/ck5.bak"
  mv "$run/log.csv" "$tmp/log5.bak"
  ln -s /dev/full "$run/log.csv"
  check "log.csv on a full disk" 1 train --out "$run" --steps 2 --resume "$ck"
  expect_in_output "write error reported" "log.csv: write failed"
  expect "checkpoint intact after the write error" cmp -s "$ck" "$tmp/ck5.bak"
  rm "$run/log.csv"
  mv "$tmp/log5.bak" "$run/log.csv"
fi

# item 8: long --out paths are used whole or refused, never cut
long="$tmp"
for i in 1 2 3 4 5; do long="$long/$(printf 'd%.0s' {1..220})"; done
check "train into a ${#long}-byte --out" 0 train --out "$long" --steps 1
expect "checkpoint at the full path" test -f "$long/checkpoint-last.safetensors"
toolong="$long$long$long$long"
check "--out over the path limit refused" 1 train --out "$toolong" --steps 1
expect_in_output "refusal names the limit" "path is"

# item 4: info reads only the header (2 GiB of data behind it, 1 GiB of address space)
cp "$ck" "$tmp/huge.safetensors"
truncate -s +2G "$tmp/huge.safetensors"
check "info on a 2 GiB checkpoint in 1 GiB" 0 bash -c "ulimit -v 1048576; '$bin' info '$tmp/huge.safetensors'"
rm -f "$tmp/huge.safetensors"

# bounded kill test: kill -9 at random moments of runs that write a
# checkpoint every step; the checkpoint stays loadable and resumable
kill_run="$tmp/kill"
check "kill test: first run" 0 train --out "$kill_run" --steps 2 --set train.ckpt_every=1
kck="$kill_run/checkpoint-last.safetensors"
for i in 1 2 3 4 5 6; do
  "$bin" train "$tmp/tiny.ini" --quiet --out "$kill_run" --resume "$kck" --steps 200 \
    --set train.ckpt_every=1 >/dev/null 2>&1 &
  pid=$!
  sleep "$((RANDOM % 2)).$((RANDOM % 10))" # set-up takes about 0.5 s
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  check "kill test round $i: info" 0 "$bin" info "$kck"
done
check "kill test: resume" 0 train --out "$kill_run" --resume "$kck" --steps 1 --set train.ckpt_every=1
left=$(find "$kill_run" -name '*.tmp.*' | wc -l)
expect "kill test: no temp files remain ($left)" test "$left" -eq 0

echo "$fails failed"
((fails == 0))
