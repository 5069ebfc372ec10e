#!/usr/bin/env bash
# Builds what the demo and the tests run: the Docker adapter component (wasm32-wasip2),
# installed as target/adapters/docker.wasm; the testing adapter (guests/testing, WIT
# 0.1.0), which the host's reload tests load from the build folder; the fake test
# adapter; the broken adapter and the example Rust adapter, which the conformance
# tests load; the hostile adapter, which the security tests load; and the host
# binary (release). Honours CARGO_TARGET_DIR.
#
# The fake adapter goes to target/testing-adapters/fake.wasm, outside the adapters
# folder, so that a demo host never loads it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WASM_TARGET="wasm32-wasip2"
ADAPTER_BUILT="$CARGO_TARGET/$WASM_TARGET/guest/envhost_docker_adapter.wasm"
ADAPTERS_DIR="$RUN_DIR/adapters"
FAKE_BUILT="$CARGO_TARGET/$WASM_TARGET/guest/envhost_fake_adapter.wasm"
TESTING_ADAPTERS_DIR="$RUN_DIR/testing-adapters"

require_rust

step "Checking the Rust target $WASM_TARGET"
if rustup target list --installed | grep -qx "$WASM_TARGET"; then
    info "$WASM_TARGET is installed"
else
    info "adding $WASM_TARGET, which the guests build for"
    rustup target add "$WASM_TARGET" || die "rustup target add $WASM_TARGET failed"
fi

step "Building the Docker adapter component (profile guest, $WASM_TARGET)"
cargo build --profile guest --target "$WASM_TARGET" -p envhost-docker-adapter ||
    die "building the Docker adapter (guests/docker) failed"
[ -f "$ADAPTER_BUILT" ] || die "the adapter build succeeded but $ADAPTER_BUILT is missing"

step "Building the testing adapter component (WIT 0.1.0, test fixture)"
cargo build --profile guest --target "$WASM_TARGET" -p envhost-testing-adapter ||
    die "building the testing adapter (guests/testing) failed"

step "Building the broken adapter component (conformance test fixture)"
cargo build --profile guest --target "$WASM_TARGET" -p envhost-broken-adapter ||
    die "building the broken adapter (guests/testing/broken) failed"

step "Building the example Rust adapter (examples/rust-adapter, its own workspace)"
(cd examples/rust-adapter && CARGO_TARGET_DIR="$CARGO_TARGET" cargo build --release --target "$WASM_TARGET") ||
    die "building the example Rust adapter (examples/rust-adapter) failed"

step "Building the hostile adapter component (security test fixture)"
cargo build --profile guest --target "$WASM_TARGET" -p envhost-hostile-adapter ||
    die "building the hostile adapter (guests/testing/hostile) failed"

step "Installing the adapter as $ADAPTERS_DIR/docker.wasm"
mkdir -p "$ADAPTERS_DIR"
# A running host watches this folder and loads files by their .wasm name: copy under
# a name it ignores, then rename, so it never reads a half-written component.
partial="$ADAPTERS_DIR/.docker.wasm.$$.partial"
cp "$ADAPTER_BUILT" "$partial"
mv -f "$partial" "$ADAPTERS_DIR/docker.wasm"
info "$(wc -c <"$ADAPTERS_DIR/docker.wasm") bytes from $ADAPTER_BUILT"

step "Building the fake test adapter (profile guest, $WASM_TARGET)"
cargo build --profile guest --target "$WASM_TARGET" -p envhost-fake-adapter ||
    die "building the fake test adapter (guests/testing/fake) failed"
[ -f "$FAKE_BUILT" ] || die "the fake adapter build succeeded but $FAKE_BUILT is missing"
mkdir -p "$TESTING_ADAPTERS_DIR"
partial="$TESTING_ADAPTERS_DIR/.fake.wasm.$$.partial"
cp "$FAKE_BUILT" "$partial"
mv -f "$partial" "$TESTING_ADAPTERS_DIR/fake.wasm"
info "$(wc -c <"$TESTING_ADAPTERS_DIR/fake.wasm") bytes from $FAKE_BUILT"

step "Building the host (release)"
# Building the whole workspace (less the wasm-only adapter) unifies features the
# same way `cargo test --workspace` does, so the tests reuse this build instead of
# compiling wasmtime a second time with other features.
cargo build --release --workspace "${NATIVE_EXCLUDES[@]}" ||
    die "building the host (host/) failed"
[ -x "$CARGO_TARGET/release/envhost" ] || die "the host build succeeded but $CARGO_TARGET/release/envhost is missing"
info "built $CARGO_TARGET/release/envhost"
