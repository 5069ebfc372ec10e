#!/usr/bin/env bash
# Measures create-to-ready latency of an environment through envhost's HTTP API
# beside a plain `docker run -d` of the same image and command, in the same run.
#
# Each round times one envhost create (POST /v1/environments, then GET until the
# descriptor reads `ready` if the POST did not already return it) and one
# `docker run -d` (until `docker inspect` reads running), interleaved. Teardown
# (DELETE, `docker rm -f`) is not timed. Prints the median and p90 of each in
# milliseconds and their ratio.
#
# The host is the release binary with its own temporary config, state and port;
# it is stopped by its pid on exit. Run scripts/build.sh and
# scripts/build-test-image.sh first. Honours CARGO_TARGET_DIR, and ENVHOST_BIN
# and ENVHOST_DOCKER_ADAPTER for a host binary and adapter built elsewhere.
#
# Usage: scripts/bench-create.sh [ROUNDS]   (default 20)
#
# NOTE: the two sides do not create identical containers. The Docker adapter
# also publishes the image's exposed port 8080 on 127.0.0.1, runs an init
# process and sets envhost's labels. The `docker run` side does none of these.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS="${1:-20}"
IMAGE="envhost/busybox:test"
COMMAND_JSON='["sleep", "600"]'
COMMAND_ARGS=(sleep 600)
# The same overrides as the end-to-end tests.
HOST_BIN="${ENVHOST_BIN:-$CARGO_TARGET/release/envhost}"
ADAPTER="${ENVHOST_DOCKER_ADAPTER:-$CARGO_TARGET/wasm32-wasip2/guest/envhost_docker_adapter.wasm}"
# Prefix of every container this script creates, directly or through envhost,
# so that cleanup removes exactly those.
PREFIX="bench-$$"
STARTUP_TIMEOUT_SECONDS=30
READY_TIMEOUT_SECONDS=30

case "$ROUNDS" in
    '' | *[!0-9]* | 0) die "invalid number of rounds \`$ROUNDS\`: expected a positive integer" ;;
esac
require_command curl curl
require_command jq jq
require_command docker docker.io
[ -x "$HOST_BIN" ] || die "the host binary $HOST_BIN is missing: run scripts/build.sh"
[ -f "$ADAPTER" ] || die "the Docker adapter $ADAPTER is missing: run scripts/build.sh"
docker image inspect "$IMAGE" >/dev/null 2>&1 ||
    die "the test image $IMAGE is missing: run scripts/build-test-image.sh"

WORK_DIR="$(mktemp -d -t envhost-bench-XXXXXX)"
HOST_PID=""

cleanup() {
    if [ -n "$HOST_PID" ] && kill -0 "$HOST_PID" 2>/dev/null; then
        kill -TERM "$HOST_PID" 2>/dev/null || true
        wait "$HOST_PID" 2>/dev/null || true
    fi
    # Containers of envhost rounds are named envhost-$PREFIX-N and plain
    # docker rounds $PREFIX-docker-N, so one name filter finds both.
    local leftovers
    leftovers="$(docker ps --all --quiet --filter "name=$PREFIX-" || true)"
    if [ -n "$leftovers" ]; then
        # shellcheck disable=SC2086 # one id per word
        docker rm --force $leftovers >/dev/null || true
    fi
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT

# Milliseconds since the epoch, with microsecond resolution.
now_ms() {
    local nanos
    nanos="$(date +%s%N)"
    printf '%d.%03d' "$((nanos / 1000000))" "$(((nanos / 1000) % 1000))"
}

elapsed_ms() {
    awk -v start="$1" -v end="$2" 'BEGIN { printf "%.1f", end - start }'
}

write_config() {
    local port="$1"
    mkdir -p "$WORK_DIR/adapters" "$WORK_DIR/state"
    cp "$ADAPTER" "$WORK_DIR/adapters/docker.wasm"
    cat >"$WORK_DIR/envhost.toml" <<EOF
[server]
listen = "127.0.0.1:$port"

[state]
path = "state/envhost.db"

[adapters]
dir = "adapters"
default = "docker"

[adapters.docker.options]
defaultImage = "$IMAGE"
stopGraceSeconds = 0

[leases]
default_ttl = "10m"

[policy]
allowed_images = ["envhost/*"]
workspace_roots = []
EOF
}

# Starts the host on a random port, and on another one if the host exits while
# starting, as it does when the port is taken.
start_host() {
    local attempt port deadline
    for attempt in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        write_config "$port"
        "$HOST_BIN" serve --config "$WORK_DIR/envhost.toml" >"$WORK_DIR/envhost.log" 2>&1 &
        HOST_PID=$!
        API="http://127.0.0.1:$port"
        deadline=$((SECONDS + STARTUP_TIMEOUT_SECONDS))
        while [ "$SECONDS" -lt "$deadline" ]; do
            if curl -fsS "$API/healthz" >/dev/null 2>&1; then
                info "envhost (pid $HOST_PID) is serving $API"
                return 0
            fi
            kill -0 "$HOST_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$HOST_PID" 2>/dev/null; then
            tail -n 20 "$WORK_DIR/envhost.log" >&2
            die "envhost did not respond at $API within ${STARTUP_TIMEOUT_SECONDS}s"
        fi
        wait "$HOST_PID" 2>/dev/null || true
        HOST_PID=""
        info "envhost exited while starting on port $port (attempt $attempt); trying another port"
    done
    tail -n 20 "$WORK_DIR/envhost.log" >&2
    die "envhost failed to start in 5 attempts; its last log is above"
}

# Prints the create-to-ready time of one envhost environment in ms.
time_envhost_round() {
    local id="$1" start end body status deadline
    body="$(jq -cn --arg id "$id" --argjson command "$COMMAND_JSON" \
        '{environmentId: $id, command: $command}')"
    start="$(now_ms)"
    status="$(curl -sS -X POST "$API/v1/environments" -H 'content-type: application/json' \
        -d "$body" | jq -r '.status // "none"')"
    deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
    while [ "$status" != "ready" ]; do
        case "$status" in
            failed | terminated | none)
                die "environment $id reads \`$status\`: $(curl -sS "$API/v1/environments/$id")"
                ;;
        esac
        [ "$SECONDS" -lt "$deadline" ] ||
            die "environment $id did not read ready within ${READY_TIMEOUT_SECONDS}s"
        status="$(curl -sS "$API/v1/environments/$id" | jq -r '.status // "none"')"
    done
    end="$(now_ms)"
    elapsed_ms "$start" "$end"
}

# Prints the run-to-running time of one plain Docker container in ms.
time_docker_round() {
    local name="$1" start end running deadline
    start="$(now_ms)"
    docker run --detach --name "$name" "$IMAGE" "${COMMAND_ARGS[@]}" >/dev/null
    deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
    running="$(docker inspect --format '{{.State.Running}}' "$name")"
    while [ "$running" != "true" ]; do
        [ "$SECONDS" -lt "$deadline" ] ||
            die "container $name was not running within ${READY_TIMEOUT_SECONDS}s"
        running="$(docker inspect --format '{{.State.Running}}' "$name")"
    done
    end="$(now_ms)"
    elapsed_ms "$start" "$end"
}

# Reads numbers, one a line, and prints "median p90" (p90 by nearest rank).
summarize() {
    sort -n | awk '
        { values[NR] = $1 }
        END {
            if (NR % 2 == 1) { median = values[(NR + 1) / 2] }
            else { median = (values[NR / 2] + values[NR / 2 + 1]) / 2 }
            rank = int(0.9 * NR); if (rank < 0.9 * NR) { rank++ }
            printf "%.1f %.1f\n", median, values[rank]
        }'
}

step "Starting envhost ($HOST_BIN)"
start_host

step "Running $ROUNDS rounds: envhost create, then docker run, of $IMAGE ${COMMAND_ARGS[*]}"
ENVHOST_TIMES=()
DOCKER_TIMES=()
for round in $(seq 1 "$ROUNDS"); do
    id="$PREFIX-$round"
    envhost_ms="$(time_envhost_round "$id")"
    curl -sS -o /dev/null -X DELETE "$API/v1/environments/$id?reason=bench"

    name="$PREFIX-docker-$round"
    docker_ms="$(time_docker_round "$name")"
    docker rm --force "$name" >/dev/null

    ENVHOST_TIMES+=("$envhost_ms")
    DOCKER_TIMES+=("$docker_ms")
    info "round $round: envhost ${envhost_ms} ms, docker run ${docker_ms} ms"
done

read -r envhost_median envhost_p90 < <(printf '%s\n' "${ENVHOST_TIMES[@]}" | summarize)
read -r docker_median docker_p90 < <(printf '%s\n' "${DOCKER_TIMES[@]}" | summarize)

step "Create to ready over $ROUNDS rounds (ms)"
printf '    %-22s %10s %10s\n' "" "median" "p90"
printf '    %-22s %10s %10s\n' "envhost create" "$envhost_median" "$envhost_p90"
printf '    %-22s %10s %10s\n' "docker run -d" "$docker_median" "$docker_p90"
awk -v em="$envhost_median" -v ep="$envhost_p90" -v dm="$docker_median" -v dp="$docker_p90" \
    'BEGIN { printf "    %-22s %10.2f %10.2f\n", "ratio envhost/docker", em / dm, ep / dp }'
