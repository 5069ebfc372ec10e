#!/usr/bin/env bash
# Builds the test image envhost/busybox:test from tests/image/Dockerfile around
# Debian's static busybox. The image is built locally with the classic builder
# because no registry is reachable and buildx is not installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGE="envhost/busybox:test"
# Debian's busybox-static installs a statically linked /bin/busybox. A dynamically
# linked one (package busybox) can not run in an image without a C library.
BUSYBOX="${ENVHOST_BUSYBOX:-/bin/busybox}"

step "Building the test image $IMAGE"

if [ -z "${ENVHOST_BUSYBOX:-}" ] && ! dpkg-query -W -f '${Status}' busybox-static 2>/dev/null |
    grep -q 'install ok installed'; then
    if is_root && is_debian; then
        apt_install busybox-static
    else
        die "the package busybox-static is not installed: run \`apt-get install busybox-static\` as root, or set ENVHOST_BUSYBOX to a statically linked busybox"
    fi
fi
[ -x "$BUSYBOX" ] || die "busybox not found at $BUSYBOX: install busybox-static or set ENVHOST_BUSYBOX"

command -v docker >/dev/null 2>&1 || die "the docker command is missing: run scripts/ensure-docker.sh"

context="$(mktemp -d "$RUN_DIR/test-image.XXXXXX")"
trap 'rm -rf "$context"' EXIT
cp tests/image/Dockerfile "$context/Dockerfile"
cp "$BUSYBOX" "$context/busybox"

if ! DOCKER_BUILDKIT=0 docker build --quiet --tag "$IMAGE" "$context" >"$context/build.log" 2>&1; then
    cat "$context/build.log" >&2
    die "docker build of $IMAGE failed (is $BUSYBOX statically linked, and does scripts/ensure-docker.sh pass?)"
fi
info "built $IMAGE ($(docker image inspect --format '{{.Id}}' "$IMAGE"))"
