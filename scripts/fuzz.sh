#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang under AddressSanitizer +
# UBSan and runs each for SECONDS (default 30), starting from the committed
# seed corpus (fuzz/corpus/TARGET; new inputs go to a scratch copy).
# A crash, leak, UB report or broken invariant stops with the input saved
# as fuzz-findings/TARGET-crash-*; the script then exits 1.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]   (targets: safetensors config png_folder idx packed jpeg_folder)
set -uo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(safetensors config png_folder idx packed jpeg_folder)
dir=build-fuzz
if [[ ! -f "$dir/build.ninja" ]]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debugoptimized -Dnative=false >/dev/null || exit 1
fi
ninja -C "$dir" $(printf 'fuzz/fuzz_%s ' "${targets[@]}") >/dev/null || { echo "fuzz build failed"; exit 1; }
mkdir -p fuzz-findings
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export OMP_NUM_THREADS=1
failed=0
for t in "${targets[@]}"; do
  work=$(mktemp -d /tmp/pixeldit-corpus-XXXXXX)
  log="$work/log"
  "$dir/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2560 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="fuzz-findings/$t-" "$work" "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if ((rc != 0)); then
    echo "fuzz_$t: FINDING after ${runs:-?} runs (exit $rc); input in fuzz-findings/"
    grep -E 'ERROR|SUMMARY|runtime error|abort|written' "$log" | head -8
    failed=1
  else
    echo "fuzz_$t: ${runs:-?} runs in ${secs} s, ${cov:-cov ?}, 0 findings"
  fi
  rm -rf "$work"
done
exit "$failed"
