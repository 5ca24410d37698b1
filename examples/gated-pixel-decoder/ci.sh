#!/bin/sh
# The CI line: build against the installed pixeldit SDK and run the parity and
# gradient tests (set PKG_CONFIG_PATH for a non-system prefix).
set -eu
cd "$(dirname "$0")" && meson setup "${1:-build}" --wipe >/dev/null 2>&1 || meson setup "${1:-build}" && meson test -C "${1:-build}" --print-errorlogs
