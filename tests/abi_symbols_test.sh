#!/bin/sh
# The ABI's edge: libpixeldit exports only what include/pixeldit/ declares
# (everything else is hidden), and plugins import nothing from it (all they
# use comes through the host table). Header-only headers (the umbrella
# pixeldit.h, plugin_util.h) declare no library function: their functions are
# all static inline, compiled into whoever includes them.
# usage: abi_symbols_test.sh LIBPIXELDIT SOURCE_DIR PLUGIN.so...
set -u
lib=$1 src=$2
shift 2
command -v nm >/dev/null || { echo "SKIP: nm not found"; exit 77; }
fails=0
header_only="pixeldit.h plugin_util.h"
for name in $header_only; do
    h="$src/include/pixeldit/$name"
    # a function at column 0 that is not static inline would be a library symbol
    extern=$(grep -nE '^[A-Za-z_][A-Za-z0-9_ *]*\(' "$h" | grep -vE '^[0-9]+:static inline ' || true)
    [ -z "$extern" ] || { echo "FAIL $h is header-only but declares: $extern"; fails=$((fails + 1)); }
done
for h in "$src"/include/pixeldit/*.h; do
    case " $header_only " in *" ${h##*/} "*) continue ;; esac
    grep -q "#pragma GCC visibility push(default)" "$h" \
        || { echo "FAIL $h lacks '#pragma GCC visibility push(default)' (its functions would be hidden)"; fails=$((fails + 1)); }
done
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -v '^_')
for sym in $exported; do
    if ! grep -qw "$sym" "$src"/include/pixeldit/*.h; then
        echo "FAIL libpixeldit exports $sym, which include/pixeldit/ does not declare"
        fails=$((fails + 1))
    fi
done
for so in "$@"; do
    imports=$(nm -D --undefined-only "$so" | awk '{print $2}' | grep -E '^pd_' || true)
    if [ -n "$imports" ]; then
        echo "FAIL $so imports from libpixeldit: $(echo $imports)"
        fails=$((fails + 1))
    fi
done
# removed from the public API before 1.0 (dead, or internal now): they stay gone
removed="pd_diffusion_noise pd_draw_hflip_mask pd_ema_update pd_tensor_attr
pd_session_add_plugin_arg pd_plugin_description pd_ctx_grad_enabled"
for sym in $removed; do
    if echo "$exported" | grep -qx "$sym"; then
        echo "FAIL libpixeldit exports $sym, which was removed from the public API"
        fails=$((fails + 1))
    fi
    if grep -qw "$sym" "$src"/include/pixeldit/*.h; then
        echo "FAIL include/pixeldit/ declares $sym, which was removed from the public API"
        fails=$((fails + 1))
    fi
done
grep -qw PD_TF_GRAD_UNSET "$src"/include/pixeldit/*.h \
    && { echo "FAIL include/pixeldit/ names the host's private flag PD_TF_GRAD_UNSET"; fails=$((fails + 1)); }
n=$(echo "$exported" | wc -w)
echo "abi symbols: $n exported, $# plugins checked, $fails failure(s)"
[ "$fails" -eq 0 ]
