#!/usr/bin/env bash
# Runs the benchmark suite and writes its report: bench/results/<date>.json, the
# markdown table bench/results/<date>.md, and the same table in
# bench/results/latest.md.
#
# Figures, each measured against its baseline in the same run:
#   docker   create → ready → destroy through envhost's HTTP API beside the same
#            container operations done directly with bollard, interleaved
#   calls    create/status/destroy lifecycles per second through HTTP with the
#            testing adapter (no Docker), and the in-process cost of a fresh
#            instance plus one call
#   startup  process start to /healthz ok with 10 cached adapters, and idle RSS
#
# Builds what it needs first (the adapters, the release host and the benchmark
# binary) and makes sure Docker and the test image are there. Extra arguments go
# to `envhost-bench all`, such as `--rounds 10 --seconds 5`. Honours
# CARGO_TARGET_DIR, and ENVHOST_BIN, ENVHOST_DOCKER_ADAPTER and
# ENVHOST_TESTING_ADAPTER for binaries built elsewhere.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

scripts/ensure-docker.sh
scripts/build-test-image.sh
scripts/build.sh

# scripts/build.sh builds the whole workspace, the benchmarks included.
[ -x "$CARGO_TARGET/release/envhost-bench" ] ||
    die "scripts/build.sh did not build $CARGO_TARGET/release/envhost-bench"

step "Running the benchmarks"
"$CARGO_TARGET/release/envhost-bench" all --out "$ROOT/bench/results" "$@"
