#!/usr/bin/env bash
# A few training steps of configs/small.ini with attention.plugin = sdpa and
# with flash_attn: the losses in log.csv must agree to 1e-5 (relative), step
# by step (same seed, same data; the two attentions differ only in float
# rounding). Usage: flash_train.sh PIXELDIT_BINARY SOURCE_DIR
set -u
bin="$1"
src="$2"
tmp=$(mktemp -d /tmp/pixeldit-flash-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
common=(--steps 6 --quiet --set train.log_every=1 --set train.ckpt_every=0
        --set data.limit=512 --set sample.steps=1 --set sample.per_class=1 --set sample.sampler=euler)
for a in sdpa flash_attn; do
  if ! "$bin" train "$src/configs/small.ini" --out "$tmp/$a" --set attention.plugin=$a "${common[@]}" \
      >"$tmp/$a.out" 2>&1; then
    echo "FAIL training with attention.plugin=$a:"; sed 's/^/    /' "$tmp/$a.out" | tail -5
    exit 1
  fi
done
# the runs used the plugins asked for (else the comparison proves nothing)
for a in sdpa flash_attn; do
  if ! "$bin" info "$tmp/$a/checkpoint-last.safetensors" 2>&1 | grep -q "attention=$a@"; then
    echo "FAIL: the checkpoint of the $a run does not record attention=$a"; exit 1
  fi
done
# log.csv: step,epoch,loss,lr,...; compare the loss column line by line
paste -d, <(cut -d, -f1,3 "$tmp/sdpa/log.csv") <(cut -d, -f3 "$tmp/flash_attn/log.csv") | awk -F, '
  NR == 1 { next }
  { n++; d = $2 - $3; if (d < 0) d = -d; r = d / ($2 > 0 ? $2 : 1e-30); if (r > worst) worst = r
    printf "step %s: loss sdpa %s, flash_attn %s, rel diff %.2e\n", $1, $2, $3, r }
  END { if (n < 6) { print "FAIL: " n " logged steps, expected 6"; exit 1 }
        if (worst > 1e-5) { printf "FAIL: worst rel diff %.3g > 1e-5\n", worst; exit 1 }
        printf "ok: %d steps, worst rel diff %.2e (tol 1e-5)\n", n, worst }'
