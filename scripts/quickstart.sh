#!/usr/bin/env bash
# The main job in one command: install dependencies, build, train the small
# JiT on Fashion-MNIST for a few minutes, and write a class-conditional
# sample grid (rows = classes) to runs/small/samples/final.png (the trainer
# samples from EMA 1 when it stops).
# Usage: scripts/quickstart.sh [MINUTES]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
scripts/install-deps.sh
scripts/build.sh
./build/cli/pixeldit train configs/small.ini --minutes "$minutes" --out runs/small
echo "quickstart: sample grid in runs/small/samples/final.png"
echo "more samples: ./build/cli/pixeldit sample --ckpt runs/small/checkpoint-last.safetensors --out grid.png"
