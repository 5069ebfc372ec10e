#!/usr/bin/env bash
# Shows envhost end to end on this machine. It makes sure Docker runs, builds the
# test image, the Docker adapter and the host, and starts the host with
# examples/envhost.toml. It then creates an environment from the template `web`,
# which serves a workspace over HTTP, fetches a page from it, destroys it and stops
# the host. It stops at the first failure and prints the end of the host's log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONFIG="$ROOT/examples/envhost.toml"
# The address in [server] listen of examples/envhost.toml.
export ENVHOST_API="http://127.0.0.1:8480"
HOST_LOG="$RUN_DIR/envhost-demo.log"
WORKSPACE="$RUN_DIR/workspaces/demo"
ENVHOST="$CARGO_TARGET/release/envhost"
STARTUP_TIMEOUT_SECONDS=30
READY_TIMEOUT_SECONDS=30

host_pid=""
environment_id=""
destroyed=0

stop_host() {
    [ -n "$host_pid" ] || return 0
    if kill -0 "$host_pid" 2>/dev/null; then
        kill -TERM "$host_pid" 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while kill -0 "$host_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.2
        done
        if kill -0 "$host_pid" 2>/dev/null; then
            info "the host (pid $host_pid) did not stop within 10s of SIGTERM: sending SIGKILL"
            kill -KILL "$host_pid" 2>/dev/null || true
        fi
    fi
    wait "$host_pid" 2>/dev/null || true
    host_pid=""
}

on_exit() {
    local status=$?
    trap - EXIT
    # A failure half way must not leave the demo's container running.
    if [ -n "$environment_id" ] && [ "$destroyed" -eq 0 ] && [ -n "$host_pid" ]; then
        "$ENVHOST" env destroy "$environment_id" --reason demo-aborted >/dev/null 2>&1 || true
    fi
    stop_host
    if [ "$status" -ne 0 ] && [ -f "$HOST_LOG" ]; then
        printf '\n--- last 40 lines of %s ---\n' "$HOST_LOG" >&2
        tail -n 40 "$HOST_LOG" >&2 || true
    fi
    exit "$status"
}
trap on_exit EXIT

healthz_responds() {
    curl --silent --fail --max-time 2 "$ENVHOST_API/healthz" >/dev/null 2>&1
}

require_command curl curl
require_command jq jq

scripts/ensure-docker.sh
scripts/build-test-image.sh
scripts/build.sh

step "Starting the host: envhost serve --config examples/envhost.toml"
if healthz_responds; then
    die "an envhost already listens on $ENVHOST_API: stop it first, because the demo starts its own"
fi
mkdir -p "$RUN_DIR/envhost" "$RUN_DIR/workspaces"
"$ENVHOST" serve --config "$CONFIG" >"$HOST_LOG" 2>&1 </dev/null &
host_pid=$!
info "pid $host_pid, log $HOST_LOG"

deadline=$((SECONDS + STARTUP_TIMEOUT_SECONDS))
until healthz_responds; do
    kill -0 "$host_pid" 2>/dev/null || die "the host exited while starting"
    [ "$SECONDS" -lt "$deadline" ] ||
        die "the host did not respond at $ENVHOST_API/healthz within ${STARTUP_TIMEOUT_SECONDS}s"
    sleep 0.2
done
info "$ENVHOST_API/healthz: $(curl --silent "$ENVHOST_API/healthz")"

step "Writing the workspace $WORKSPACE"
mkdir -p "$WORKSPACE"
printf '<h1>Hello from an envhost environment</h1>\n' >"$WORKSPACE/index.html"
info "index.html: $(cat "$WORKSPACE/index.html")"

step "Creating an environment: envhost env create --template web --workspace $WORKSPACE"
created="$("$ENVHOST" --json env create --template web --workspace "$WORKSPACE" --ttl 10m)" ||
    die "envhost env create failed"
environment_id="$(jq -r '.environmentId // empty' <<<"$created")"
[ -n "$environment_id" ] || die "envhost env create returned no environmentId: $created"
"$ENVHOST" env get "$environment_id"

step "Waiting until $environment_id is ready"
deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
while :; do
    descriptor="$("$ENVHOST" --json env get "$environment_id")" ||
        die "envhost env get $environment_id failed"
    status="$(jq -r '.status' <<<"$descriptor")"
    case "$status" in
        ready) break ;;
        failed | terminated) die "$environment_id ended as $status: $(jq -r '.reason // "no reason given"' <<<"$descriptor")" ;;
    esac
    [ "$SECONDS" -lt "$deadline" ] ||
        die "$environment_id is still $status after ${READY_TIMEOUT_SECONDS}s"
    sleep 0.5
done
info "status: $status"

endpoint="$(jq -r 'first(.endpoints[]? | select(.name == "http") | "\(.host):\(.port)") // empty' <<<"$descriptor")"
[ -n "$endpoint" ] || die "$environment_id has no endpoint named http: $descriptor"

step "Requesting http://$endpoint/ (the workspace's index.html, served by httpd in the container)"
# httpd may need a moment after the container starts before it accepts connections.
page=""
for _ in $(seq 1 25); do
    if page="$(curl --silent --show-error --fail --max-time 5 "http://$endpoint/" 2>&1)"; then
        break
    fi
    sleep 0.2
done
[ "$page" = "$(cat "$WORKSPACE/index.html")" ] ||
    die "http://$endpoint/ did not return the workspace's index.html: $page"
info "body: $page"

step "Destroying $environment_id: envhost env destroy"
"$ENVHOST" env destroy "$environment_id" --reason demo-finished >/dev/null ||
    die "envhost env destroy $environment_id failed"
destroyed=1
"$ENVHOST" env get "$environment_id"
status="$("$ENVHOST" --json env get "$environment_id" | jq -r '.status')"
[ "$status" = "terminated" ] || die "$environment_id is $status after destroy, expected terminated"

step "Stopping the host (pid $host_pid)"
stop_host
info "stopped"

step "Demo finished: created, served, destroyed and terminated $environment_id"
