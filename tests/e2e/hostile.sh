#!/usr/bin/env bash
# Issue 27: the hostile-input probes that need the command. Non-regular
# files (FIFO, devices) as config, base, plugin, feature-network cache and
# PNG; a base that is not a config; planted links and a user's file in a run
# folder; --resume into another run's folder; numbers a checkpoint can carry
# (step, NaN moments and EMA, NaN and huge weights); counts from flags.
# Every command runs under `timeout`: a hang is a failure, not a stuck suite.
# Usage: hostile.sh PIXELDIT_BINARY EDIT_CHECKPOINT_BINARY
set -u
bin="$1"
edit="$2"
tmp=$(mktemp -d /tmp/pixeldit-hostile-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
fails=0
source "$(dirname "$0")/check.sh" || exit 1
e2e=$(cd "$(dirname "$0")" && pwd) # tiny.ini, the shared tiny model
T="timeout 60"
no_output() { # no_output NAME TEXT: $tmp/out must not contain TEXT
  if grep -q -- "$2" "$tmp/out"; then
    echo "FAIL $1: output contains '$2'"
    fails=$((fails + 1))
  else echo "ok   $1"; fi
}

cat >"$tmp/tiny.ini" <<INI
[config]
base = $e2e/tiny.ini
[train]
ckpt_every = 0
final_grid = false
INI

# ---- non-regular files: refused at once (issue 27 item 3) ----
mkfifo "$tmp/fifo" "$tmp/fifo.ini" "$tmp/fifo.so"
for f in /dev/zero /dev/urandom /dev/null "$tmp/fifo.ini" "$tmp"; do
  check "config $f refused" 1 $T "$bin" train "$f" --out "$tmp/never"
  expect_in_output "config $f: says what it found" "not a regular file\|cannot open config"
done
printf '[config]\nbase = %s\n' "$tmp/fifo" >"$tmp/base-fifo.ini"
check "a FIFO as [config] base refused" 1 $T "$bin" train "$tmp/base-fifo.ini" --out "$tmp/never"
expect_in_output "the base FIFO is named" "base: .*fifo is not a regular file (found a FIFO)"
printf '[config]\nbase = /dev/zero\n' >"$tmp/base-zero.ini"
check "/dev/zero as [config] base refused" 1 $T "$bin" train "$tmp/base-zero.ini" --out "$tmp/never"
printf '[config]\nbase = /etc/passwd\n' >"$tmp/base-passwd.ini"
check "/etc/passwd as [config] base refused" 1 $T "$bin" train "$tmp/base-passwd.ini" --out "$tmp/never"
expect_in_output "said to be no config" "is not a config file"
no_output "its content is not echoed" "root"
check "--plugin FIFO refused" 1 $T "$bin" train "$tmp/tiny.ini" --plugin "$tmp/fifo.so" --out "$tmp/never"
expect_in_output "the plugin FIFO is named" "fifo.so: not a regular file (found a FIFO)"
expect "nothing was written" test ! -e "$tmp/never"

# ---- a tiny run ----
run="$tmp/run"
ck="$run/checkpoint-last.safetensors"
check "train a tiny run" 0 $T "$bin" train "$tmp/tiny.ini" --quiet --out "$run" --steps 2

# ---- run folders (items 4, 5, 6) ----
echo "precious" >"$tmp/victim"
ln -s "$tmp/victim" "$run/loss.png.tmp"
echo "my notes" >"$run/notes.tmp.999999"
: >"$run/checkpoint-last.safetensors.tmp.999999"
check "resume with planted links" 0 $T "$bin" train "$tmp/tiny.ini" --quiet --out "$run" --resume "$ck" --steps 1
expect "the link's target is unchanged" grep -qx precious "$tmp/victim"
expect "loss.png is a regular file" test -f "$run/loss.png" -a ! -L "$run/loss.png"
expect "a user's notes.tmp.<pid> is kept" test -f "$run/notes.tmp.999999"
expect "pixeldit's own stale temporary is removed" test ! -e "$run/checkpoint-last.safetensors.tmp.999999"
check "plot --out through a planted link" 0 $T "$bin" plot "$run/log.csv" --out "$tmp/plot.png"
ln -s "$tmp/victim" "$tmp/plot.png.tmp"
check "plot again beside a link at the old temp name" 0 $T "$bin" plot "$run/log.csv" --out "$tmp/plot.png"
expect "the link's target is still unchanged" grep -qx precious "$tmp/victim"

for kind in fifo link; do
  cp -r "$run" "$tmp/run-$kind"
  rm "$tmp/run-$kind/log.csv"
  if [[ $kind == fifo ]]; then mkfifo "$tmp/run-$kind/log.csv"; else ln -s "$tmp/victim" "$tmp/run-$kind/log.csv"; fi
  check "log.csv a $kind: resume refused at once" 1 $T "$bin" train "$tmp/tiny.ini" --quiet \
    --out "$tmp/run-$kind" --resume "$tmp/run-$kind/checkpoint-last.safetensors" --steps 1
  expect_in_output "log.csv a $kind: named" "log.csv: not a regular file (found a \(FIFO\|symbolic link to a regular file\))"
done
expect "no row went through the link" grep -qx precious "$tmp/victim"

other="$tmp/other"
check "train another run" 0 $T "$bin" train "$tmp/tiny.ini" --quiet --out "$other" --steps 1
cp "$other/checkpoint-last.safetensors" "$tmp/other.ck"
cp "$other/log.csv" "$tmp/other.csv"
check "--resume A --out B (B holds another run) refused" 1 $T "$bin" train "$tmp/tiny.ini" --quiet \
  --out "$other" --resume "$ck" --steps 1
expect_in_output "the refusal names the other run" "already holds another run"
expect "B's checkpoint unchanged" cmp -s "$tmp/other.ck" "$other/checkpoint-last.safetensors"
expect "B's log.csv unchanged" cmp -s "$tmp/other.csv" "$other/log.csv"
check "--resume A --out EMPTY is fine" 0 $T "$bin" train "$tmp/tiny.ini" --quiet --out "$tmp/empty" \
  --resume "$ck" --steps 1
check "--resume A --out B --force replaces B" 0 $T "$bin" train "$tmp/tiny.ini" --quiet --out "$other" \
  --resume "$ck" --steps 1 --force

# ---- numbers a checkpoint can carry (item 7) ----
for v in -1 9007199254740993 1e3; do
  "$edit" "$ck" "$tmp/step.ck" "step=$v" || fails=$((fails + 1))
  check "sample refuses step = $v" 1 $T "$bin" sample --ckpt "$tmp/step.ck" --out "$tmp/g.png" --n 1 --steps 1
  expect_in_output "sample names the step" "metadata 'step'"
  check "forward refuses step = $v" 1 $T "$bin" forward --ckpt "$tmp/step.ck" --input "$tmp/none" \
    --output "$tmp/o.safetensors"
  expect_in_output "forward names the step" "metadata 'step'"
done
for prefix in optim.m. optim.v. ema1. ema2.; do
  "$edit" "$ck" "$tmp/nan.ck" "fill:$prefix=nan" || fails=$((fails + 1))
  mkdir -p "$tmp/nan-$prefix"
  check "resume refuses NaN $prefix" 1 $T "$bin" train "$tmp/tiny.ini" --quiet --out "$tmp/nan-$prefix" \
    --resume "$tmp/nan.ck" --steps 1
  expect_in_output "the tensor is named" "tensor '$prefix.*' holds a non-finite value"
  expect "nothing saved" test ! -e "$tmp/nan-$prefix/checkpoint-last.safetensors"
done
"$edit" "$ck" "$tmp/nanw.ck" "fill:=nan" "fill:ema1.=nan" || fails=$((fails + 1))
check "sample refuses NaN weights" 1 $T "$bin" sample --ckpt "$tmp/nanw.ck" --out "$tmp/g.png" --n 1 --steps 1
expect_in_output "the file is named" "nanw.ck: tensor '.*' holds a non-finite value"

# ---- eval: counts from flags, non-regular inputs, broken weights ----
check "eval --n 2^62+10 refused before any arithmetic" 2 $T "$bin" eval --ckpt "$ck" --n 4611686018427387914
expect_in_output "with its bounds" "expected an integer in 2..1000000"
check "eval --epochs 2^31 refused" 2 $T "$bin" eval --train-features --config "$tmp/tiny.ini" --epochs 2147483648
expect_in_output "with its upper bound" "expected an integer in 1..10000"
check "train --steps 2^53+1 refused" 2 $T "$bin" train "$tmp/tiny.ini" --steps 9007199254740993 --out "$tmp/never"
expect_in_output "with the step limit" "expected an integer in 0..9007199254740992"
mkdir -p "$XDG_CACHE_HOME/pixeldit"
mkfifo "$XDG_CACHE_HOME/pixeldit/featnet-fashion-mnist-resize-16px.safetensors"
check "a FIFO as the feature-network cache refused" 1 $T "$bin" eval --ckpt "$ck" --n 20 --steps 1
expect_in_output "the cache FIFO is named" "featnet-fashion-mnist-resize-16px.safetensors: not a regular file"
rm -f "$XDG_CACHE_HOME/pixeldit/featnet-fashion-mnist-resize-16px.safetensors"
check "train a small feature network" 0 $T "$bin" eval --train-features --config "$tmp/tiny.ini" --limit 500 --epochs 1
mkdir -p "$tmp/pngs"
check "sample a PNG folder" 0 $T "$bin" sample --ckpt "$ck" --out-dir "$tmp/pngs" --n 2 --steps 1 --sampler euler
mkfifo "$tmp/pngs/zz-fifo.png"
check "a FIFO in eval --images refused" 1 $T "$bin" eval --images "$tmp/pngs" --config "$tmp/tiny.ini"
expect_in_output "the PNG FIFO is named" "zz-fifo.png: not a regular file (found a FIFO)"
"$edit" "$ck" "$tmp/huge.ck" "fill:ema1.=3e38" || fails=$((fails + 1))
check "eval of 3e38 weights fails with a clear line" 1 $T "$bin" eval --ckpt "$tmp/huge.ck" --n 20 --steps 1
expect_in_output "naming the file and the cause" "huge.ck: eval: sampled image 0 is not finite"
no_output "no eigen-solver error" "dsyev"
check "eval of NaN weights fails with a clear line" 1 $T "$bin" eval --ckpt "$tmp/nanw.ck" --n 20 --steps 1
expect_in_output "naming the file and the tensor" "nanw.ck: tensor '.*' holds a non-finite value"
chmod 0555 "$tmp/pngs" 2>/dev/null
if [[ $(id -u) -ne 0 ]]; then
  check "eval --json into a read-only folder" 1 $T "$bin" eval --ckpt "$ck" --n 20 --steps 1 --json "$tmp/pngs/e.json"
  expect_in_output "the OS reason is given" "Permission denied"
fi
chmod 0755 "$tmp/pngs"

echo "hostile: $fails failed"
((fails == 0))
