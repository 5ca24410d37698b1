#!/usr/bin/env bash
# Installs everything pixeldit needs to build, test and train on Debian 12.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds PyTorch for the
# side-by-side benchmark and for regenerating goldens; tests never need it)
set -euo pipefail

pkgs=(build-essential meson ninja-build pkg-config
      libopenblas-openmp-dev libinih-dev libcmocka-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev libcairo2-dev fonts-dejavu-core
      dataset-fashion-mnist
      libopenmpi-dev openmpi-bin  # data-parallel training (mpirun; meson -Dmpi)
      libdnnl-dev  # native bf16 GEMM ([train] precision = bf16; meson -Ddnnl)
      clang libclang-rt-14-dev libomp-dev)  # libFuzzer targets (scripts/fuzz.sh)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(python3-torch python3-numpy python3-scipy python3-matplotlib
         libxsmm-dev)  # bench/bench_gemm's libxsmm column
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present"
  exit 0
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
