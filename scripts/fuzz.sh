#!/usr/bin/env bash
# Runs each cargo-fuzz target in fuzz/ for a fixed time: the quantity parser,
# create request validation, and loading arbitrary bytes as an adapter.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60, all)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain
# (`rustup toolchain install nightly`), because libFuzzer's instrumentation
# uses unstable compiler flags. New inputs go to target/fuzz-corpus/; the
# seed corpus in fuzz/corpus/ is only read. A crash leaves its input in
# fuzz/artifacts/<target>/ and fails the script. Not part of scripts/test.sh.
#
# FUZZ_SANITIZER picks cargo-fuzz's sanitizer. The default `none` suits
# targets that look for panics in safe code; `address` rebuilds everything,
# wasmtime included, with AddressSanitizer.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PER_TARGET="${1:-60}"
shift || true
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
    TARGETS=(quantity create_request load_adapter)
fi
SANITIZER="${FUZZ_SANITIZER:-none}"
# The fuzz build has its own flags, so it gets its own folder rather than
# invalidating the main build's artifacts.
export CARGO_TARGET_DIR="$RUN_DIR/fuzz-build"

case "$SECONDS_PER_TARGET" in
    '' | *[!0-9]*) die "invalid time \`$SECONDS_PER_TARGET\`: expected whole seconds" ;;
esac
command -v cargo-fuzz >/dev/null 2>&1 ||
    die "cargo-fuzz is missing: run \`cargo install cargo-fuzz\`"
rustup toolchain list | grep -q '^nightly' ||
    die "no nightly toolchain: run \`rustup toolchain install nightly\`"

cd fuzz
for target in "${TARGETS[@]}"; do
    step "Fuzzing $target for ${SECONDS_PER_TARGET}s (sanitizer $SANITIZER)"
    corpus="$RUN_DIR/fuzz-corpus/$target"
    mkdir -p "$corpus"
    # libFuzzer writes new inputs into the first folder and only reads the
    # others, which keeps the committed seed corpus small.
    cargo +nightly fuzz run --sanitizer "$SANITIZER" "$target" "$corpus" "corpus/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 ||
        die "fuzz target $target failed; the input is in fuzz/artifacts/$target/"
done
step "All targets ran for ${SECONDS_PER_TARGET}s without a failure"
