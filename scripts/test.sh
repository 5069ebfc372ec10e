#!/usr/bin/env bash
# Runs every check of the project against the real Docker engine: formatting, the
# unit tests of every crate, the end-to-end tests that drive the release binary,
# and clippy. Starts Docker and builds the test image, the adapters, the host and
# the example Python adapter (componentize-py from PyPI) first. Exits non-zero at
# the first failure; nothing is skipped.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Tests run in release mode because the end-to-end tests need the release host
# anyway. After scripts/build.sh, `cargo test --release --no-run` recompiled only
# the workspace's crates and tempfile. A clean debug test build compiled all 256
# crates again, in 6m40s wall and 4m20s user. Both were measured on a 2-core
# machine that was also running other builds, with the host still a stub. clippy in release reuses the
# release build scripts and proc macros; it took 2m31s there.
TEST_PROFILE=(--release)

require_rust
scripts/ensure-docker.sh
scripts/build-test-image.sh
scripts/build.sh
scripts/build-python-example.sh

step "Checking formatting: cargo fmt --all --check"
cargo fmt --all --check || die "the code is not formatted: run \`cargo fmt --all\`"

step "Testing the host, the SDK and the end-to-end tests"
cargo test "${TEST_PROFILE[@]}" --workspace "${NATIVE_EXCLUDES[@]}" ||
    die "cargo test --workspace failed"

step "Testing the Docker adapter's native unit tests"
cargo test "${TEST_PROFILE[@]}" -p envhost-docker-adapter ||
    die "cargo test -p envhost-docker-adapter failed"

step "Linting: cargo clippy -D warnings"
cargo clippy "${TEST_PROFILE[@]}" --workspace --exclude envhost-docker-adapter --all-targets -- -D warnings ||
    die "clippy reported warnings in the host, the SDK or the end-to-end tests"
cargo clippy "${TEST_PROFILE[@]}" --target wasm32-wasip2 -p envhost-docker-adapter -- -D warnings ||
    die "clippy reported warnings in the Docker adapter"

step "All checks passed"
