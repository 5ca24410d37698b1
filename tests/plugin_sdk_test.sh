#!/bin/sh
# The plugin SDK end to end: installs this build into a temporary DESTDIR,
# points pkg-config at the installed pixeldit-plugin.pc (relocated into
# the DESTDIR), builds examples/plugin-template out of tree with meson and
# with the README's one cc line, and loads every result with the host's
# loader (load_plugin creates each and runs one forward), then runs the
# template's own gradcheck test against the installed libpixeldit.
# usage: plugin_sdk_test.sh BUILD_DIR SOURCE_DIR LOAD_PLUGIN_EXE
set -eu
build=$1 src=$2 load=$3

# The only reason to skip (exit 77): no meson to build with.
meson=$(command -v meson || true)
if [ -z "$meson" ]; then
    echo "SKIP: meson not found"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pixeldit-sdk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$meson" install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet \
    || fail "meson install --destdir failed"

pc=$(find "$tmp/root" -name pixeldit-plugin.pc | head -n 1)
[ -n "$pc" ] || fail "pixeldit-plugin.pc was not installed"
prefix=$(sed -n 's/^prefix=//p' "$pc")
mkdir -p "$tmp/pc"
sed "s|^prefix=.*|prefix=$tmp/root$prefix|" "$pc" > "$tmp/pc/pixeldit-plugin.pc"
export PKG_CONFIG_PATH="$tmp/pc"
[ -f "$tmp/root$prefix/include/pixeldit/plugin.h" ] || fail "plugin.h not installed under $prefix/include"
plugindir=$(pkg-config --variable=plugindir pixeldit-plugin)
case "$plugindir" in
    */pixeldit/plugins) ;;
    *) fail "plugindir is '$plugindir', expected .../pixeldit/plugins" ;;
esac

# out of tree with meson, as a plugin author would
"$meson" setup "$tmp/tpl" "$src/examples/plugin-template" >"$tmp/setup.log" 2>&1 \
    || { cat "$tmp/setup.log"; fail "meson setup of examples/plugin-template failed"; }
ninja -C "$tmp/tpl" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "template build failed"; }
if grep -q "warning:" "$tmp/build.log"; then cat "$tmp/build.log"; fail "template build has warnings"; fi

# the README's one cc line
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden \
    $(pkg-config --cflags pixeldit-plugin) \
    -o "$tmp/my_loss.so" "$src/examples/plugin-template/my_loss.c" -lm || fail "cc one-liner failed"

# plugins link nothing from pixeldit: the host table is all they use
if command -v readelf >/dev/null; then
    for so in "$tmp"/tpl/*.so; do
        if readelf -d "$so" | grep -q "libpixeldit"; then fail "$so links libpixeldit"; fi
    done
fi

"$load" "$tmp"/tpl/my_decoder.so "$tmp"/tpl/my_loss.so "$tmp"/tpl/my_attention.so \
    || fail "the loader refused a template plugin"
"$load" "$tmp/my_loss.so" || fail "the loader refused the cc-built plugin"

# the template's own plugin test (gradcheck), linked to the installed libpixeldit
LD_LIBRARY_PATH="$(pkg-config --variable=libdir pixeldit-plugin)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$meson" test -C "$tmp/tpl" --print-errorlogs >"$tmp/test.log" 2>&1 \
    || { cat "$tmp/test.log"; fail "the template's test_my_loss failed"; }
grep -q "^Ok: *1" "$tmp/test.log" || { cat "$tmp/test.log"; fail "test_my_loss did not run"; }
grep -h "my_loss OK" "$tmp"/tpl/meson-logs/testlog.txt || true
echo "plugin SDK: install, out-of-tree build and load OK"
