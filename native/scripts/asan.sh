#!/usr/bin/env bash
# Builds a debug AddressSanitizer copy of the addon under .tmp/asan (leaving build/Release alone) and runs the
# concurrency stress (write pool + two worker_thread readers) against it. Usage: scripts/asan.sh [seconds]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-5}"
work="$here/../.tmp/asan-native"
rm -rf "$work"
mkdir -p "$work"
cp -r "$here/binding.gyp" "$here/cpp" "$work/"
ln -s "$here/node_modules" "$work/node_modules"
prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
nodedir=()
[[ -f "$prefix/include/node/node_api.h" ]] && nodedir=(--nodedir="$prefix")
(
  cd "$work"
  CXXFLAGS="-fsanitize=address -fno-omit-frame-pointer -g -O1" LDFLAGS="-fsanitize=address" \
    node "$here/node_modules/node-gyp/bin/node-gyp.js" rebuild --debug "${nodedir[@]}" >"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log"; exit 1; }
)
addon="$work/build/Debug/kvasir_native.node"
libasan="$(g++ -print-file-name=libasan.so)"
echo "ASan build: $addon"
cd "$here"
# Node itself leaks by design at exit, so leak checking is off; every other ASan check is on.
KVASIR_NATIVE_ADDON="$addon" LD_PRELOAD="$libasan" ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" \
  node --import tsx scripts/stress.ts "$seconds"
echo "ASan run finished without reports"
