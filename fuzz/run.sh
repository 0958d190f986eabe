#!/usr/bin/env bash
# Runs every fuzz target for a while; any crash or invariant violation fails.
#
#   bash fuzz/run.sh            # each target 60 s
#   FUZZ_SECONDS=10 bash fuzz/run.sh connection
#
# Needs cargo-fuzz (installed from crates.io if missing) and a nightly
# toolchain; without one it falls back to RUSTC_BOOTSTRAP=1 on stable.
# New inputs go to a temporary corpus; the committed seeds in
# fuzz/corpus/<target>/ are only read. A crash is saved under
# fuzz/artifacts/<target>/ (git-ignored): copy it into fuzz/corpus/<target>/
# once fixed, and `cargo test --test invariants` replays it on stable.
set -euo pipefail

cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(connection config presence server)
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if rustup run nightly rustc --version >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz)
else
    echo "fuzz/run.sh: no nightly toolchain; using RUSTC_BOOTSTRAP=1 on stable" >&2
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
    mkdir -p "$work/$target" "corpus/$target"
    echo "== fuzz $target for ${seconds}s"
    "${fuzz[@]}" run "$target" "$work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
done
