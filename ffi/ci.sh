#!/usr/bin/env bash
# CI for keepalive-ffi: the C ABI, the .wasm, the JavaScript module, and a
# real browser. Called by .ci/run; runs from any directory; honours
# CARGO_TARGET_DIR. Installs what it needs (the wasm32 target, Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
target="${CARGO_TARGET_DIR:-$PWD/target}"
step() { printf '\n== ffi: %s\n' "$*"; }

step "toolchain: wasm32-unknown-unknown, node, cc"
rustup target add wasm32-unknown-unknown
node --version
cc --version | head -n 1

step "build: static/shared library and the .wasm (cargo build -p keepalive-ffi --target wasm32-unknown-unknown --release)"
cargo build -p keepalive-ffi
cargo build -p keepalive-ffi --target wasm32-unknown-unknown --release

step "cargo test -p keepalive-ffi (C under ASan+UBSan, header vs exports, wasm imports, node tests)"
cargo test -p keepalive-ffi

step "node --test ffi/js/test/ (the JavaScript module in virtual time)"
KEEPALIVE_WASM="$target/wasm32-unknown-unknown/release/keepalive_ffi.wasm" node --test ffi/js/test/

step "python3 ffi/tests/python/test_ctypes.py (the shared library from Python)"
python3 ffi/tests/python/test_ctypes.py "$target/debug/libkeepalive_ffi.so"

step "go run ffi/tests/go (the static library from Go through cgo)"
if ! command -v go >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
fi
(cd ffi/tests/go && GOPROXY=off CGO_LDFLAGS="$target/debug/libkeepalive_ffi.a -lpthread -ldl -lm" go run .)

step "chromium"
if ! command -v chromium >/dev/null 2>&1 && [ -z "${CHROMIUM:-}" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
${CHROMIUM:-chromium} --version

step "npm package: npm pack, installed by name into a scratch project: Node tests, tsc --strict, and the browser (page + examples/server.rs: server killed and restarted, network offline and back)"
cargo build --example server
bash ffi/js/pack-test.sh --browser

step "figures: shipping .wasm (LTO, one codegen unit, stripped) and per-message cost"
size_dir="$target/wasm-size"
cargo build -q -p keepalive-ffi --target wasm32-unknown-unknown --release --target-dir "$size_dir" \
    --config profile.release.lto=true --config profile.release.codegen-units=1 \
    --config profile.release.strip=true
KEEPALIVE_WASM="$size_dir/wasm32-unknown-unknown/release/keepalive_ffi.wasm" node --input-type=module -e '
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
const bytes = readFileSync(process.env.KEEPALIVE_WASM);
const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes));
if (imports.length) { console.error("imports:", imports); process.exit(1); }
console.log(`shipping .wasm: ${bytes.length} bytes, ${gzipSync(bytes, { level: 9 }).length} gzipped, 0 imports`);
'
node ffi/js/bench.mjs 200000

step "ffi done"
