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
[ -f "$tmp/root$prefix/include/pixeldit/plugin_util.h" ] || fail "plugin_util.h not installed under $prefix/include"
# the installed helpers compile cleanly into a plugin and import nothing
printf '#include <pixeldit/plugin_util.h>\nstatic const pd_plugin_desc desc = {PD_PLUGIN_DESC_INIT, .name = "u"};\nPD_PLUGIN_ENTRY(desc)\n' > "$tmp/util.c"
cc -std=c11 -Wall -Wextra -Wpedantic -Werror -shared -fPIC -fvisibility=hidden \
    -I"$tmp/root$prefix/include" -o "$tmp/util.so" "$tmp/util.c" || fail "plugin_util.h does not compile cleanly"
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
if command -v nm >/dev/null; then
    for so in "$tmp"/tpl/*.so "$tmp/my_loss.so"; do
        if nm -D --undefined-only "$so" | awk '{print $2}' | grep -q '^pd_'; then
            fail "$so imports pd_* symbols from libpixeldit"
        fi
    done
fi
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
    || { cat "$tmp/test.log"; fail "the template's tests failed"; }
grep -q "^Ok: *4" "$tmp/test.log" || { cat "$tmp/test.log"; fail "the template's four tests (three plus parity) did not all run"; }
grep -h "_my_.* OK\|^my_loss OK" "$tmp"/tpl/meson-logs/testlog.txt || true
# the installed pixeldit: no LD_LIBRARY_PATH (rpath), its own plugins
# listed with no refusal, never the build tree's
bin="$tmp/root$prefix/bin/pixeldit"
[ -x "$bin" ] || fail "pixeldit was not installed under $prefix/bin"
env -u LD_LIBRARY_PATH -u PIXELDIT_PLUGIN_PATH "$bin" plugins >"$tmp/plugins.txt" 2>&1 \
    || { cat "$tmp/plugins.txt"; fail "installed pixeldit plugins failed"; }
grep -q "^decoder   jit_final_layer" "$tmp/plugins.txt" || { cat "$tmp/plugins.txt"; fail "installed plugins not listed"; }
if grep -qE "^(refused|shadowed)" "$tmp/plugins.txt"; then cat "$tmp/plugins.txt"; fail "installed pixeldit refused or shadowed a plugin"; fi
if grep -q "file: $build" "$tmp/plugins.txt"; then cat "$tmp/plugins.txt"; fail "installed pixeldit searched the build tree"; fi

# the installed binary keeps the OpenMP OpenBLAS the build chose (2x faster)
if ldd "$build/cli/pixeldit" | grep -q "openblas-openmp"; then
    env -u LD_LIBRARY_PATH ldd "$bin" | grep -q "openblas-openmp" \
        || fail "installed pixeldit lost the openblas-openmp rpath"
fi

# install the template next to them and train a few steps with its decoder
"$meson" install -C "$tmp/tpl" --no-rebuild --quiet >/dev/null || fail "template meson install failed"
[ -f "$plugindir/my_decoder.so" ] || fail "template not installed into $plugindir"
cat >"$tmp/tiny.ini" <<'INI'
[model]
preset = small
image_size = 16
hidden_size = 32
depth = 1
num_heads = 2
bottleneck_dim = 8
in_context_len = 0
[train]
batch_size = 4
threads = 2
[sample]
steps = 1
per_class = 1
[data]
fit = resize
limit = 16
[decoder]
plugin = my_decoder
INI
env -u LD_LIBRARY_PATH -u PIXELDIT_PLUGIN_PATH "$bin" train "$tmp/tiny.ini" --out "$tmp/run" --steps 2 --quiet \
    >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; fail "training with the installed template failed"; }
[ -f "$tmp/run/checkpoint-last.safetensors" ] || fail "no checkpoint from the installed template run"
echo "plugin SDK: install, out-of-tree build and load OK"
