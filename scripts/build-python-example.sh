#!/usr/bin/env bash
# Builds the example Python adapter (examples/python-adapter) into
# examples/python-adapter/build/pyledger.wasm, which the conformance and
# artifact cache tests load. The first run installs componentize-py from PyPI
# into examples/python-adapter/.venv, so it needs network access to PyPI.
#
# Python's venv module and pip must be present: on Debian as root this script
# installs python3-venv and python3-pip when they are missing, and otherwise
# prints what to install. It skips the build when the component is newer than
# every file it is built from and the venv exists.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EXAMPLE_DIR="examples/python-adapter"
OUTPUT="$EXAMPLE_DIR/build/pyledger.wasm"
VENV="$EXAMPLE_DIR/.venv"

# Everything the component is built from: the adapter's source, the build
# script (it pins componentize-py) and the WIT package it targets.
SOURCES=("$EXAMPLE_DIR/app.py" "$EXAMPLE_DIR/build.sh" wit/v0.2.0/*.wit)

# Whether the component exists and is newer than every source, with the venv
# that built it still in place.
is_up_to_date() {
    [ -f "$OUTPUT" ] && [ -x "$VENV/bin/componentize-py" ] || return 1
    local source
    for source in "${SOURCES[@]}"; do
        [ "$OUTPUT" -nt "$source" ] || return 1
    done
}

# Makes sure `python3 -m venv` can create a venv with pip in it. Debian
# splits those out of python3: `venv` needs ensurepip from python3-venv.
require_python_venv() {
    require_command python3 python3
    if python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        return 0
    fi
    if is_root && is_debian; then
        apt_install python3-venv python3-pip
        python3 -c 'import ensurepip, venv' >/dev/null 2>&1 ||
            die "python3 still lacks the venv and ensurepip modules after installing python3-venv (python3 is $(command -v python3))"
        return 0
    fi
    die "python3 lacks the venv and ensurepip modules, which the Python example needs: install python3-venv and python3-pip (apt-get install python3-venv python3-pip)"
}

step "Building the example Python adapter ($EXAMPLE_DIR, componentize-py)"
if is_up_to_date; then
    info "$OUTPUT is newer than its sources: nothing to do"
    exit 0
fi

require_python_venv
"$EXAMPLE_DIR/build.sh" "$OUTPUT" ||
    die "building the example Python adapter failed: see the output above (the first build needs PyPI)"
info "$(wc -c <"$OUTPUT") bytes in $OUTPUT"
