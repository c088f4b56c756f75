#!/usr/bin/env bash
# Builds the addon as it was at a git revision (its binding.gyp and cpp/ only) into a file, leaving build/Release
# alone: the "before" side of a before/after benchmark (pnpm bench:indexer --baseline-addon FILE).
# Usage: scripts/build-at.sh REV [OUT]   (OUT defaults to .tmp/addon-REV.node at the repository root)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rev="${1:?usage: build-at.sh REV [OUT]}"
root="$(cd "$here/.." && pwd)"
out="${2:-$root/.tmp/addon-$rev.node}"
work="$root/.tmp/build-at-$rev"
rm -rf "$work"
mkdir -p "$work"
git -C "$root" archive "$rev" native/binding.gyp native/cpp | tar -x -C "$work"
ln -s "$here/node_modules" "$work/native/node_modules"
prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
nodedir=()
[[ -f "$prefix/include/node/node_api.h" ]] && nodedir=(--nodedir="$prefix")
(
  cd "$work/native"
  node "$here/node_modules/node-gyp/bin/node-gyp.js" rebuild "${nodedir[@]}" >"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log"; exit 1; }
)
mkdir -p "$(dirname "$out")"
cp "$work/native/build/Release/kvasir_native.node" "$out"
rm -rf "$work"
echo "$out"
