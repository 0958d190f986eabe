#!/usr/bin/env bash
# The npm package as a user gets it: `npm pack` (its prepack builds the
# shipping .wasm), installed by name into an empty scratch project, then the
# Node tests run against it by name and a TypeScript file using every
# export is checked with `tsc --strict`. Prints the tarball's sizes. With
# `--browser`, the headless-Chromium test then loads the installed package.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$here"
tarball="$(npm pack --silent --pack-destination "$scratch" | tail -n 1)"
echo "packed $tarball: $(wc -c < "$scratch/$tarball") bytes"
tar -tzf "$scratch/$tarball" | sed 's/^/  /'
cd "$scratch"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "./$tarball" typescript@5 >/dev/null
installed="$scratch/node_modules/keepalive-websocket"
node --input-type=module -e '
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
const dir = process.argv[1];
const gz = (f) => gzipSync(readFileSync(`${dir}/${f}`), { level: 9 }).length;
const js = gz("keepalive.mjs"), wasm = gz("keepalive_ffi.wasm");
console.log(`shipped, gzipped: keepalive.mjs ${js} + keepalive_ffi.wasm ${wasm} = ${js + wasm} bytes`);
' "$installed"
cp -r "$here/test" "$here/fakes.mjs" "$scratch/"
KEEPALIVE_PACKAGE=keepalive-websocket KEEPALIVE_WASM="$installed/keepalive_ffi.wasm" node --test "$scratch/test/"
cp "$here/test-types/check.ts" "$scratch/"
npx tsc --strict --noEmit --target es2022 --module nodenext --moduleResolution nodenext --lib es2022,dom check.ts
echo "tsc --strict: check.ts type-checks against the installed package"
if [ "${1:-}" = "--browser" ]; then
    KEEPALIVE_PACKAGE_DIR="$installed" node --test "$here/browser/"
fi
