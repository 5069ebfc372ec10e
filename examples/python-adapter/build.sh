#!/usr/bin/env bash
# Builds the Python example adapter into a component with componentize-py
# from PyPI, pinned to 0.25.1. Usage: build.sh [OUTPUT.wasm]; the default is
# build/pyledger.wasm beside this script. The adapter's name is the file stem.
#
# componentize-py is installed into .venv beside this script on the first run,
# which needs PyPI; later runs work offline.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WIT_DIR="$HERE/../../wit/v0.2.0"
WORLD="envhost:provider/adapter@0.2.0"
COMPONENTIZE_PY_VERSION="0.25.1"
OUTPUT="${1:-$HERE/build/pyledger.wasm}"
VENV="$HERE/.venv"

if ! "$VENV/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
    echo "installing componentize-py $COMPONENTIZE_PY_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

mkdir -p "$(dirname "$OUTPUT")"
# Write under a temporary name, then rename: a host watching the output
# folder must never load a half-written component.
partial="$OUTPUT.partial.$$"
trap 'rm -f "$partial"' EXIT
# No --stub-wasi: the component keeps its WASI imports (filesystem, sockets,
# cli), which the host links with nothing granted.
"$VENV/bin/componentize-py" -d "$WIT_DIR" -w "$WORLD" componentize -p "$HERE" app \
    -o "$partial" >&2
mv -f "$partial" "$OUTPUT"
echo "built $OUTPUT ($(wc -c <"$OUTPUT") bytes)" >&2
