#!/usr/bin/env bash
# Configures (once) and builds pixeldit into BUILD_DIR (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${BUILD_DIR:-build}"
if [[ ! -f "$dir/build.ninja" ]]; then
  meson setup "$dir" "$@"
fi
ninja -C "$dir"
