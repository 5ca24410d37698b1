#!/usr/bin/env bash
# The main job in one command: install dependencies, build, train the small
# JiT on Fashion-MNIST, and write a class-conditional sample grid (one row
# per class, from EMA 1) to runs/small/samples/final.png and the loss curve
# to runs/small/loss.png.
#
# Usage: scripts/quickstart.sh            train 600 steps (QUICKSTART_STEPS)
#        scripts/quickstart.sh MINUTES    train for MINUTES instead
#
# 600 steps is a count, not a time, so the grid is the same on a fast or a
# busy machine: at 600 steps every class is recognisable (the EMA warm-up of
# configs/small.ini keeps EMA 1 from being grey this early). That is about 6
# minutes at 105 images/s on 2 free cores, longer when other work shares
# them; the trainer prints the ETA as it goes.
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${QUICKSTART_STEPS:-600}"
if (($# > 1)) || { (($# == 1)) && ! [[ "$1" =~ ^[0-9]+([.][0-9]+)?$ ]]; }; then
  echo "usage: scripts/quickstart.sh [MINUTES]   (default: $steps steps)" >&2
  exit 2
fi
scripts/install-deps.sh
scripts/build.sh
if (($# == 1)); then
  budget=(--minutes "$1")
  echo "quickstart: training configs/small.ini for $1 minutes"
else
  budget=(--steps "$steps")
  echo "quickstart: training configs/small.ini for $steps steps"
fi
# A second quickstart continues the first run instead of replacing it (a
# fresh run never overwrites a run folder; see docs/security.md).
resume=()
if [[ -f runs/small/checkpoint-last.safetensors ]]; then
  resume=(--resume runs/small/checkpoint-last.safetensors)
  echo "quickstart: runs/small holds a run; continuing it (delete runs/small to start over)"
fi
./build/cli/pixeldit train configs/small.ini "${budget[@]}" "${resume[@]}" --out runs/small
echo
echo "quickstart: sample grid (one row per class): runs/small/samples/final.png; loss curve: runs/small/loss.png"
echo "quickstart: go further: train longer (./build/cli/pixeldit train configs/small.ini --resume runs/small/checkpoint-last.safetensors --steps 3000), evaluate (./build/cli/pixeldit eval --help) or try a plugin (./build/cli/pixeldit train configs/small-unet.ini)"
