#!/bin/sh
# examples/gated-pixel-decoder end to end, as its author would run it: this
# build installed into a clean temporary prefix (DESTDIR), the example built
# out of tree against that SDK with meson, its tests run (`gradients`:
# pd_gradcheck; `parity`: the installed `pixeldit plugin-check` against the
# committed reference from reference.py). Then the same plugin with a
# deliberately wrong gate (-DWRONG_FORMULA, forward and backward consistent):
# the gradient test must pass it and plugin-check must refuse it, naming the
# plugin and the output.
# usage: example_plugin_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
meson=$(command -v meson || true)
[ -n "$meson" ] || { echo "SKIP: meson not found"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pixeldit-example.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$meson" install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet || fail "meson install --destdir failed"
pc=$(find "$tmp/root" -name pixeldit-plugin.pc | head -n 1)
[ -n "$pc" ] || fail "pixeldit-plugin.pc was not installed"
prefix=$(sed -n 's/^prefix=//p' "$pc")
mkdir -p "$tmp/pc"
sed "s|^prefix=.*|prefix=$tmp/root$prefix|" "$pc" >"$tmp/pc/pixeldit-plugin.pc"
export PKG_CONFIG_PATH="$tmp/pc"
unset LD_LIBRARY_PATH PIXELDIT_PLUGIN_PATH || true
[ -f "$(pkg-config --variable=pythondir pixeldit-plugin)/pixeldit_reference.py" ] \
    || fail "pixeldit_reference.py not installed in pythondir"

ex="$src/examples/gated-pixel-decoder"
"$meson" setup "$tmp/b" "$ex" >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; fail "meson setup of the example failed"; }
ninja -C "$tmp/b" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "example build failed"; }
if grep -q "warning:" "$tmp/build.log"; then cat "$tmp/build.log"; fail "example build has warnings"; fi
# no LD_LIBRARY_PATH: the test finds libpixeldit through rpath_ldflags, plugin-check through its own rpath
"$meson" test -C "$tmp/b" --print-errorlogs >"$tmp/test.log" 2>&1 || { cat "$tmp/test.log"; fail "the example's tests failed"; }
grep -q "^Ok: *2" "$tmp/test.log" || { cat "$tmp/test.log"; fail "the example's two tests did not both run"; }
grep -h "plugin-check: OK\|gradients OK" "$tmp/b/meson-logs/testlog.txt"

# the wrong formula: gradients fine, parity not
"$meson" configure "$tmp/b" -Dc_args=-DWRONG_FORMULA >/dev/null || fail "meson configure failed"
ninja -C "$tmp/b" >/dev/null 2>&1 || fail "wrong-formula build failed"
"$meson" test -C "$tmp/b" gradients --print-errorlogs >"$tmp/wrong_grad.log" 2>&1 \
    || { cat "$tmp/wrong_grad.log"; fail "the gradient test refused the consistent wrong formula"; }
if "$meson" test -C "$tmp/b" parity >"$tmp/wrong_parity.log" 2>&1; then
    cat "$tmp/b/meson-logs/testlog.txt"; fail "plugin-check passed the wrong formula"
fi
grep -q "decoder plugin gated_pixel_decoder differs from the reference .* (first: output)" \
    "$tmp/b/meson-logs/testlog.txt" || { cat "$tmp/b/meson-logs/testlog.txt"; fail "plugin-check did not name the plugin and the output"; }
echo "wrong formula: gradient test passed it, plugin-check refused it:"
grep "differs from the reference" "$tmp/b/meson-logs/testlog.txt"
echo "example plugin: installed-SDK build, parity and gradients OK"
