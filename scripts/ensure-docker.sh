#!/usr/bin/env bash
# Makes sure a Docker engine responds on this machine, because the Docker adapter and
# the end-to-end tests need one:
#   - an engine already responds: nothing to do;
#   - dockerd is installed but not running: start it in the background, logging to
#     target/dockerd.log, and wait until it responds;
#   - Docker is not installed, on Debian as root: install Debian's docker.io, then start it;
#   - otherwise: print what to run and exit 1.
# It never starts a second engine next to a running one.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Seconds to wait for a starting engine to respond.
START_TIMEOUT_SECONDS="${ENVHOST_DOCKER_START_TIMEOUT:-30}"
DOCKERD_LOG="$RUN_DIR/dockerd.log"

engine_responds() {
    command -v docker >/dev/null 2>&1 &&
        timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

engine_version() {
    docker version --format 'engine {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null
}

running_dockerd_pids() {
    pidof dockerd 2>/dev/null || true
}

# Waits until the engine responds. With the pid of a dockerd this script started, it
# fails as soon as that process exits, and shows the end of its log.
wait_for_engine() {
    local pid="${1:-}" deadline=$((SECONDS + START_TIMEOUT_SECONDS))
    while ! engine_responds; do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            die "dockerd (pid $pid) exited while starting: see $DOCKERD_LOG"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            if [ -n "$pid" ]; then
                tail -n 20 "$DOCKERD_LOG" >&2 || true
                die "dockerd (pid $pid) did not respond within ${START_TIMEOUT_SECONDS}s: see $DOCKERD_LOG"
            fi
            die "the running dockerd ($(running_dockerd_pids)) did not respond within ${START_TIMEOUT_SECONDS}s: check its log, or stop it and rerun $0 to start one"
        fi
        sleep 1
    done
}

step "Checking for a Docker engine"

if engine_responds; then
    info "the Docker engine responds ($(engine_version))"
    exit 0
fi

# A DOCKER_HOST pointing elsewhere is someone else's engine: starting a local one
# would not make that one respond.
if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "unix:///var/run/docker.sock" ]; then
    die "no Docker engine responds at DOCKER_HOST=$DOCKER_HOST: start that engine, or unset DOCKER_HOST to use a local one"
fi

existing="$(running_dockerd_pids)"
if [ -n "$existing" ]; then
    info "dockerd is already running (pid $existing) but does not respond yet: waiting"
    wait_for_engine
    info "the Docker engine responds ($(engine_version))"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    if is_root && is_debian; then
        step "Installing Debian's docker.io, because dockerd is not installed"
        apt_install docker.io
        command -v dockerd >/dev/null 2>&1 || die "dockerd is still missing after installing docker.io"
    else
        die "Docker is not installed. On Debian or Ubuntu run, as root:
    apt-get update && apt-get install -y docker.io && dockerd >/var/log/dockerd.log 2>&1 &
then rerun $0"
    fi
fi

if ! is_root; then
    die "dockerd is installed but not running, and starting it needs root: run
    sudo dockerd >/var/log/dockerd.log 2>&1 &
(or start the docker service), then rerun $0"
fi

# The package's post-install step may have started the engine through an init system.
if engine_responds; then
    info "the Docker engine responds ($(engine_version))"
    exit 0
fi

step "Starting dockerd in the background (log: $DOCKERD_LOG)"
printf '\n--- dockerd started by %s at %s\n' "$0" "$(date -u +%FT%TZ)" >>"$DOCKERD_LOG"
# setsid detaches the engine from this script's session, so it outlives the script
# and a Ctrl-C in this terminal does not reach it.
setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
dockerd_pid=$!
info "dockerd pid $dockerd_pid"
wait_for_engine "$dockerd_pid"
info "the Docker engine responds ($(engine_version))"
