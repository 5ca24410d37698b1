#!/usr/bin/env bash
# Runs the whole test suite: installs dependencies, builds, runs every meson
# test (unit, golden, plugin, e2e), then the numeric suites (unit, golden,
# plugin) again under each other OpenBLAS kernel this CPU can run (Haswell
# with AVX2, SkylakeX with AVX-512, when OpenBLAS picked another), so that a
# kernel-dependent assertion fails on every machine; then the unit tests in an
# AddressSanitizer + UBSan build, then each libFuzzer target for about 30 s
# (PD_FUZZ_SECONDS). Ends with one line "N passed, N failed".
# Usage: scripts/test.sh [--no-sanitize]
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh || exit 1
sanitize=1
[[ "${1:-}" == "--no-sanitize" ]] && sanitize=0

passed=0
failed=0
# Adds the results of one meson test log to the totals.
count() {
  local log="$1"
  [[ -f "$log" ]] || return
  local p f
  p=$(grep -c '"result": "OK"' "$log" || true)
  f=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
  passed=$((passed + p))
  failed=$((failed + f))
}

echo "== build (release) =="
if ! BUILD_DIR=build scripts/build.sh; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "== tests (release) =="
meson test -C build --print-errorlogs --num-processes 2
count build/meson-logs/testlog.json

# The kernel the run above used (OPENBLAS_CORETYPE from the environment, or
# OpenBLAS's own pick), then each other one of: OpenBLAS's own pick,
# Haswell (AVX2), SkylakeX (AVX-512). PIXELDIT_BLAS_AUTO=0: the command's
# re-exec off, as in the library the tests link.
core_of() { PIXELDIT_BLAS_AUTO=0 "$@" build/cli/pixeldit --version | sed -n 's/.*OpenBLAS core //p'; }
used=$(core_of env)
own=$(core_of env -u OPENBLAS_CORETYPE)
kernels=()
add_kernel() {
  local k
  [[ -z "$1" || "$1" == "$used" ]] && return
  for k in "${kernels[@]}"; do [[ "$k" == "$1" ]] && return; done
  kernels+=("$1")
}
add_kernel "$own"
grep -qw avx2 /proc/cpuinfo && add_kernel Haswell
grep -qw avx512f /proc/cpuinfo && add_kernel SkylakeX
# the tests of those suites that compute something (not the SDK install,
# out-of-tree build and symbol checks, which no kernel changes)
numeric=$(meson test -C build --list --no-rebuild --suite unit --suite golden --suite plugin 2>/dev/null \
  | sed 's|^.* / ||' | grep -vxE 'plugin_sdk|example_plugin|abi_symbols')
for k in "${kernels[@]}"; do
  echo "== numeric tests (unit, golden, plugin) under OPENBLAS_CORETYPE=$k (first run: ${used:-?}) =="
  rm -f "build/meson-logs/testlog-$k.json"
  # shellcheck disable=SC2086 # one test name per word
  OPENBLAS_CORETYPE=$k meson test -C build --no-rebuild --print-errorlogs --num-processes 2 \
    --logbase "testlog-$k" $numeric
  count "build/meson-logs/testlog-$k.json"
done

if ((sanitize)); then
  echo "== build (address,undefined sanitizers) =="
  if BUILD_DIR=build-asan scripts/build.sh -Db_sanitize=address,undefined -Dbuildtype=debugoptimized \
      -Db_lundef=false; then
    echo "== unit tests (sanitizers) =="
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" \
      meson test -C build-asan --suite unit --print-errorlogs --num-processes 2
    count build-asan/meson-logs/testlog.json
  else
    echo "sanitizer build failed"
    failed=$((failed + 1))
  fi
fi
if ((sanitize)); then
  # libFuzzer targets (fuzz/), about 30 s each under ASan/UBSan; each target
  # counts as one test
  echo "== fuzz (${PD_FUZZ_SECONDS:-30} s per target) =="
  scripts/fuzz.sh "${PD_FUZZ_SECONDS:-30}" | tee build-fuzz-summary.txt
  p=$(grep -c ' 0 findings$' build-fuzz-summary.txt || true)
  f=$(grep -c -E 'FINDING|fuzz build failed' build-fuzz-summary.txt || true)
  passed=$((passed + p))
  failed=$((failed + f))
  ((p + f == 0)) && failed=$((failed + 1))
  rm -f build-fuzz-summary.txt
fi
echo "${passed} passed, ${failed} failed"
((failed == 0))
