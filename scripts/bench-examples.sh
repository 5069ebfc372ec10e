#!/usr/bin/env bash
# Measures how long the example adapters take to load, with an empty artifact
# cache and from the cache, and prints a markdown table. The time is the
# `load time` line of `envhost conformance`: compiling the component (or
# reading the cached artifact), linking it and the adapter's first `init`.
#
# Usage: scripts/bench-examples.sh [COLD_RUNS [CACHED_RUNS]]   (default 3 and 5)
#
# Builds nothing: run scripts/build.sh and scripts/build-python-example.sh
# first. The host is ENVHOST_BIN, else <target>/release/envhost; the
# components are ENVHOST_LEDGER_ADAPTER and ENVHOST_PYTHON_ADAPTER, else the
# builds of those scripts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COLD_RUNS="${1:-3}"
CACHED_RUNS="${2:-5}"
HOST="${ENVHOST_BIN:-$CARGO_TARGET/release/envhost}"
LEDGER="${ENVHOST_LEDGER_ADAPTER:-$CARGO_TARGET/wasm32-wasip2/release/ledger_adapter.wasm}"
PYTHON="${ENVHOST_PYTHON_ADAPTER:-examples/python-adapter/build/pyledger.wasm}"

for count in "$COLD_RUNS" "$CACHED_RUNS"; do
    [[ "$count" =~ ^[1-9][0-9]*$ ]] || die "invalid run count \`$count\`: expected a positive integer"
done
[ -x "$HOST" ] || die "the host binary $HOST is missing: run scripts/build.sh (or set ENVHOST_BIN)"
[ -f "$LEDGER" ] || die "the example Rust adapter $LEDGER is missing: run scripts/build.sh"
[ -f "$PYTHON" ] || die "the example Python adapter $PYTHON is missing: run scripts/build-python-example.sh"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/envhost-bench-examples.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Prints the load time, in milliseconds, of one conformance run of FILE with
# the cache in CACHE_DIR, and checks that the component came from EXPECTED
# (`compiled` or `from the cache`).
load_time_ms() {
    local file="$1" cache_dir="$2" expected="$3" output line
    output="$(ENVHOST_LOG=warn "$HOST" conformance "$file" --cache-dir "$cache_dir" </dev/null)" ||
        die "envhost conformance $file failed:
$output"
    line="$(grep '^load time:' <<<"$output")" || die "no load time in the report of $file:
$output"
    [[ "$line" == *"($expected)"* ]] || die "expected a load $expected, got: $line"
    # The report prints a Rust Duration with one decimal: 12.3µs, 45.6ms or 7.8s.
    awk '{
        value = $3
        if (value ~ /µs$/) { sub(/µs$/, "", value); print value / 1000 }
        else if (value ~ /ms$/) { sub(/ms$/, "", value); print value + 0 }
        else if (value ~ /s$/) { sub(/s$/, "", value); print value * 1000 }
        else { exit 1 }
    }' <<<"$line" || die "unreadable load time: $line"
}

# Prints `median (min–max)` of the numbers on stdin, in seconds when the
# median is at least one second and in milliseconds otherwise.
summarize() {
    sort -g | awk '{ v[NR] = $1 }
    END {
        median = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        if (median >= 1000) printf "%.1f s (%.1f–%.1f s)", median / 1000, v[1] / 1000, v[NR] / 1000
        else printf "%.0f ms (%.0f–%.0f ms)", median, v[1], v[NR]
    }'
}

# Prints a size in bytes as decimal kB below one megabyte, else as MB.
format_size() {
    awk -v bytes="$1" 'BEGIN {
        if (bytes < 1000000) printf "%.0f kB", bytes / 1000
        else printf "%.1f MB", bytes / 1000000
    }'
}

# Prints one table row for the component COMPONENT loaded as NAME.wasm.
measure() {
    local label="$1" name="$2" component="$3" file cold cached run cache_dir
    file="$WORK/$name.wasm"
    cp "$component" "$file"
    cold=""
    for run in $(seq "$COLD_RUNS"); do
        cache_dir="$WORK/cache-$name-$run"
        cold+="$(load_time_ms "$file" "$cache_dir" compiled)"$'\n'
    done
    cached=""
    for run in $(seq "$CACHED_RUNS"); do
        cached+="$(load_time_ms "$file" "$cache_dir" "from the cache")"$'\n'
    done
    printf '| %s | %s | %s | %s |\n' "$label" "$(format_size "$(wc -c <"$file")")" \
        "$(printf '%s' "$cold" | summarize)" "$(printf '%s' "$cached" | summarize)"
}

printf '| adapter | component size | load with an empty cache (compile), median (min–max) of %d | load from the cache, median (min–max) of %d |\n' \
    "$COLD_RUNS" "$CACHED_RUNS"
printf '| --- | --- | --- | --- |\n'
measure '`ledger` (Rust, `examples/rust-adapter`)' ledger "$LEDGER"
measure '`pyledger` (Python, componentize-py 0.25.1)' pyledger "$PYTHON"
