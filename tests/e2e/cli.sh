#!/usr/bin/env bash
# End-to-end checks of the pixeldit command on a tiny model: train, resume,
# sample (grid and folder), info, forward, plugins, --help, and that bad
# input gives one clear line and the documented exit code.
# Usage: cli.sh PIXELDIT_BINARY SOURCE_DIR MAKE_FORWARD_INPUT_BINARY (SOURCE_DIR unused, kept for scripts)
set -u
bin="$1"
mkinput="$3" # $2: source dir, unused
tmp=$(mktemp -d /tmp/pixeldit-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
source "$(dirname "$0")/check.sh" || exit 1
e2e=$(cd "$(dirname "$0")" && pwd) # tiny.ini, the shared tiny model

cat >"$tmp/tiny.ini" <<INI
[config]
base = $e2e/tiny.ini
INI

check "train" 0 "$bin" train "$tmp/tiny.ini" --out "$tmp/run" --steps 3 --quiet
[[ -f "$tmp/run/checkpoint-last.safetensors" && -f "$tmp/run/samples/final.png" && -f "$tmp/run/log.csv" ]] \
  || { echo "FAIL train outputs missing"; fails=$((fails + 1)); }
check "resume" 0 "$bin" train "$tmp/tiny.ini" --out "$tmp/run" --steps 2 --quiet \
  --resume "$tmp/run/checkpoint-last.safetensors"
check "info" 0 "$bin" info "$tmp/run/checkpoint-last.safetensors"
expect_in_output "info shows step 5" "step: 5"
expect_in_output "info lists official names" "blocks.0.attn.qkv.weight"
check "sample grid" 0 "$bin" sample --ckpt "$tmp/run/checkpoint-last.safetensors" --out "$tmp/g.png" \
  --classes 0,3 --n 2 --steps 2 --sampler euler
expect_in_output "sampling a 5-step EMA says it is still young" "still holds .* of the initial weights after 5 steps"
expect_in_output "sampling ends with images/s off a terminal" "sampling: 4 images in .* images/s"
# issue 26: the multistep samplers and schedules, with the NFE per image stated
check "sample dpm++2m" 0 "$bin" sample --ckpt "$tmp/run/checkpoint-last.safetensors" --out "$tmp/d.png" \
  --classes 1 --n 2 --steps 3 --sampler dpm++2m
expect_in_output "sample states the NFE" "dpm++2m, uniform schedule, 3 steps = 3 NFE per image"
check "sample bf16-emulated" 0 "$bin" sample --ckpt "$tmp/run/checkpoint-last.safetensors" --out "$tmp/db.png" \
  --classes 1 --n 2 --steps 3 --sampler dpm++2m --precision bf16-emulated
expect_in_output "sample states the precision" "cfg .*, ema 1, bf16-emulated)"
check "sample unipc logsnr" 0 "$bin" sample --ckpt "$tmp/run/checkpoint-last.safetensors" --out "$tmp/u.png" \
  --classes 1 --n 2 --steps 3 --sampler unipc --schedule logsnr
check "sample heun NFE" 0 "$bin" sample --ckpt "$tmp/run/checkpoint-last.safetensors" --out "$tmp/h.png" \
  --classes 1 --n 1 --steps 3 --sampler heun
expect_in_output "heun takes 2 steps - 1 evaluations" "3 steps = 5 NFE per image"
check "an unknown sampler" 2 "$bin" sample --ckpt "$tmp/run/checkpoint-last.safetensors" --sampler rk4
expect_in_output "the unknown sampler's message lists the names" "heun|euler|dpm++2m|unipc"
[[ -f "$tmp/run/loss.png" ]] || { echo "FAIL train wrote no loss.png"; fails=$((fails + 1)); }
check "plot one log" 0 "$bin" plot "$tmp/run/log.csv" --out "$tmp/loss.png"
check "plot two logs" 0 "$bin" plot "$tmp/run/log.csv" "$tmp/run/log.csv" --label a --label b --out "$tmp/cmp.png"
check "plot without --out" 2 "$bin" plot "$tmp/run/log.csv"
check "plot a missing log" 1 "$bin" plot "$tmp/nothere.csv" --out "$tmp/x.png"
expect_in_output "plot names the missing log" "nothere.csv"
printf 'sampler,nfe,fd\nheun,99,10\nheun,19,14\ndpm++2m,10,11\ndpm++2m,5,20\n' >"$tmp/nfe.csv"
check "plot x-y by group" 0 "$bin" plot "$tmp/nfe.csv" --x nfe --y fd --group sampler --out "$tmp/nfe.png"
[[ -s "$tmp/nfe.png" ]] || { echo "FAIL plot --x/--y wrote no PNG"; fails=$((fails + 1)); }
check "plot x-y of a missing column" 1 "$bin" plot "$tmp/nfe.csv" --x nfe --y kid --out "$tmp/nfe2.png"
expect_in_output "plot names the missing column" "no column 'kid'"
# A config that starts from another: the checkpoint stores the resolved
# keys of both files and no base to re-read.
mkdir -p "$tmp/child"
printf '[config]\nbase = ../tiny.ini\n[train]\nseed = 3\n' >"$tmp/child/child.ini"
check "train from a base chain" 0 "$bin" train "$tmp/child/child.ini" --out "$tmp/childrun" --steps 1 \
  --quiet --set train.final_grid=false
[[ ! -e "$tmp/childrun/samples/final.png" ]] || { echo "FAIL final_grid=false wrote a grid"; fails=$((fails + 1)); }
check "info of a base-chain checkpoint" 0 "$bin" info "$tmp/childrun/checkpoint-last.safetensors"
expect_in_output "checkpoint holds the base's keys" "hidden_size = 32"
expect_in_output "checkpoint holds the child's keys" "seed = 3"
if grep -q "^base *=" "$tmp/out"; then echo "FAIL checkpoint config names a base"; fails=$((fails + 1)); fi
check "sample raw weights" 0 "$bin" sample --ckpt "$tmp/run/checkpoint-last.safetensors" --out "$tmp/g0.png" \
  --classes 0 --n 1 --steps 1 --ema 0
if grep -q "initial weights" "$tmp/out"; then echo "FAIL raw weights got the EMA note"; fails=$((fails + 1)); fi
check "sample folder" 0 "$bin" sample --ckpt "$tmp/run/checkpoint-last.safetensors" --out-dir "$tmp/imgs" \
  --classes 1 --n 2 --steps 1 --ema 2
[[ -f "$tmp/g.png" && -f "$tmp/imgs/000001.png" ]] || { echo "FAIL sample outputs missing"; fails=$((fails + 1)); }

# forward: an input file written with the library's own writer
check "make forward input" 0 "$mkinput" "$tmp/in.safetensors" 2 1 16
check "forward" 0 "$bin" forward --ckpt "$tmp/run/checkpoint-last.safetensors" --input "$tmp/in.safetensors" \
  --output "$tmp/out.safetensors"
expect_in_output "forward wrote x_pred" "x_pred (2, 1, 16, 16)"

check "bench" 0 "$bin" bench "$tmp/tiny.ini" --batch 2 --steps 1 --warmup 0 --sample-steps 1 --no-peak
expect_in_output "bench prints the BLAS core" "OpenBLAS"
expect_in_output "bench says which kernels ran" "fused kernels"
check "bench, reference kernels" 0 "$bin" bench "$tmp/tiny.ini" --batch 2 --steps 1 --warmup 0 --sample-steps 0 --no-peak --set train.fused_kernels=false
expect_in_output "train.fused_kernels=false runs the composed ops" "reference (unfused) kernels"
# --profile: per-op table, then each plugin's part of the op time (decoder, attention, loss)
check "bench --profile" 0 "$bin" bench "$tmp/tiny.ini" --batch 2 --steps 1 --warmup 0 --sample-steps 0 --no-peak --profile
expect_in_output "profile gives the decoder its own part" "decoder plugin jit_final_layer"
expect_in_output "profile gives attention its own part" "attention plugin sdpa"
expect_in_output "profile names the rest" "outside plugins (JiT trunk)"
expect_in_output "profile prints the step against its GEMMs alone" "GEMM-only time"
# the decoder plugins of issue 13: by file (--plugin), by name with keys, then sampled
plugdir="$(dirname "$bin")/../plugins"
check "train deco_decoder by --plugin" 0 "$bin" train "$tmp/tiny.ini" --out "$tmp/deco" --steps 2 --quiet \
  --plugin "$plugdir/deco_decoder.so"
check "sample deco_decoder checkpoint" 0 "$bin" sample --ckpt "$tmp/deco/checkpoint-last.safetensors" \
  --out "$tmp/deco.png" --classes 0 --n 1 --steps 1 --ema 0
check "train bilinear_head by name" 0 "$bin" train "$tmp/tiny.ini" --out "$tmp/bil" --steps 2 --quiet \
  --set decoder.plugin=bilinear_head --set decoder.grid_mult=2 --set decoder.align_corners=true
check "info bilinear_head checkpoint" 0 "$bin" info "$tmp/bil/checkpoint-last.safetensors"
expect_in_output "info names the bilinear head" "bilinear_head"
check "plugins" 0 "$bin" plugins
expect_in_output "plugins lists the default decoder" "jit_final_layer"
for c in train sample info forward plugins bench plot; do check "$c --help" 0 "$bin" "$c" --help; done
check "no command" 2 "$bin"
check "unknown command" 2 "$bin" frobnicate
check "unknown option" 2 "$bin" train "$tmp/tiny.ini" --bogus

printf '[model]\npatch_size = abc\n' >"$tmp/bad.ini"
check "bad config value" 1 "$bin" train "$tmp/bad.ini" --out "$tmp/bad"
expect_in_output "bad config names file and line" "bad.ini:2"
check "bad --set" 1 "$bin" train "$tmp/tiny.ini" --set train.batch_size=x --out "$tmp/bad"
expect_in_output "bad --set named" "train.batch_size"
check "missing plugin" 1 "$bin" train "$tmp/tiny.ini" --set decoder.plugin=no_such_decoder --out "$tmp/bad"
expect_in_output "missing plugin named" "no_such_decoder"
head -c 100 "$tmp/run/checkpoint-last.safetensors" >"$tmp/trunc.safetensors"
check "truncated checkpoint" 1 "$bin" sample --ckpt "$tmp/trunc.safetensors" --out "$tmp/x.png"
expect_in_output "truncated checkpoint named" "trunc.safetensors"

# Checkpoints name plugins, never files (same-length byte edits of the
# metadata keep the safetensors header valid).
ck="$tmp/run/checkpoint-last.safetensors"
edit_ck() { LC_ALL=C sed "s|$1|$2|" "$ck" >"$3"; }
edit_ck 'plugin = jit_final_layer' 'plugin = /tmp/pdevil1.so' "$tmp/evil_cfg.safetensors"
check "a path in the stored config is refused" 1 "$bin" sample --ckpt "$tmp/evil_cfg.safetensors" --out "$tmp/x.png"
expect_in_output "stored path named" "stored config \[decoder\] plugin = /tmp/pdevil1.so: expected a plugin name"
edit_ck 'decoder=jit_final_layer@' 'decoder=/tmp/pdevil1.so@' "$tmp/evil_rec.safetensors"
check "a path in the plugin record is refused" 1 "$bin" forward --ckpt "$tmp/evil_rec.safetensors" \
  --input "$tmp/in.safetensors" --output "$tmp/o2.safetensors"
expect_in_output "record path named" "plugin record 'decoder=/tmp/pdevil1.so@1.0.0': expected a plugin name"
# sampling needs only the decoder and attention: a loss's major bump does not block it, resuming does
edit_ck 'loss=v_loss@1.0.0' 'loss=v_loss@9.0.0' "$tmp/loss9.safetensors"
check "sample ignores the loss plugins" 0 "$bin" sample --ckpt "$tmp/loss9.safetensors" --out "$tmp/l9.png" \
  --classes 0 --n 1 --steps 1
check "resume checks every plugin version" 1 "$bin" train "$tmp/tiny.ini" --out "$tmp/run9" --steps 1 \
  --quiet --resume "$tmp/loss9.safetensors"
expect_in_output "resume names the loss" "made with loss plugin v_loss 9.0.0, found v_loss 1.0.0"
edit_ck 'decoder=jit_final_layer@1.0.0' 'decoder=jit_final_layer@2.0.0' "$tmp/dec2.safetensors"
check "sample checks the decoder version" 1 "$bin" sample --ckpt "$tmp/dec2.safetensors" --out "$tmp/x.png"
expect_in_output "decoder major named" "incompatible major version"
# on the command line only a slash makes a path
binabs=$(realpath "$bin")
(cd "$(dirname "$binabs")/../plugins" && "$binabs" train "$tmp/tiny.ini" --plugin v_loss.so --steps 1 --out "$tmp/bad" >"$tmp/out" 2>&1)
[[ $? -eq 1 ]] && grep -q "plugin 'v_loss.so': expected a plugin name" "$tmp/out" && echo "ok   --plugin x.so is a name" \
  || { echo "FAIL --plugin x.so opened a file in the working directory"; sed 's/^/    /' "$tmp/out" | tail -3; fails=$((fails + 1)); }

# numbers on the command line are strict: no clamping, no nan, no wrap-around
check "--steps overflow" 2 "$bin" train "$tmp/tiny.ini" --steps 99999999999999999999 --out "$tmp/bad"
expect_in_output "--steps named" "\-\-steps 99999999999999999999: expected"
check "--minutes nan" 2 "$bin" train "$tmp/tiny.ini" --minutes nan --out "$tmp/bad"
expect_in_output "--minutes named" "\-\-minutes nan: expected a finite"
check "sample --cfg nan" 2 "$bin" sample --ckpt "$ck" --cfg nan
expect_in_output "--cfg named" "\-\-cfg nan: expected a finite number"
check "sample --n too large" 2 "$bin" sample --ckpt "$ck" --n 4294967297
check "make forward input, label 2^32+3" 0 "$mkinput" "$tmp/in_big.safetensors" 2 1 16 4294967299
check "forward refuses label 2^32+3" 1 "$bin" forward --ckpt "$ck" --input "$tmp/in_big.safetensors" \
  --output "$tmp/o3.safetensors"
expect_in_output "label named" "y\[0\] = 4294967299: expected a class id in 0..10"

echo "cli: $fails failure(s)"
[[ $fails -eq 0 ]]
