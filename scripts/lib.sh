# Helpers shared by the scripts in this folder. Source it after `set -euo pipefail`;
# it changes to the repository root so that every relative path below is the repo's.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Cargo's output folder (binaries, the adapter component) may live elsewhere when
# CARGO_TARGET_DIR is set. Runtime files (logs, adapters, workspaces, state) always
# go under the repository's own target/, where examples/envhost.toml expects them.
CARGO_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$CARGO_TARGET" in
    /*) ;;
    *) CARGO_TARGET="$ROOT/$CARGO_TARGET" ;;
esac
RUN_DIR="$ROOT/target"

# Crates that only make sense as wasm32-wasip2 components. Native builds and test
# runs leave them out (a native cdylib of a component does not link), and every
# native command uses the same list so that they resolve the same features and
# share one build.
NATIVE_EXCLUDES=(
    --exclude envhost-docker-adapter
    --exclude envhost-testing-adapter
    --exclude envhost-fake-adapter
    --exclude envhost-broken-adapter
    --exclude envhost-hostile-adapter
)
mkdir -p "$RUN_DIR"

# Prints a step heading, so that a long log shows where each step starts.
step() {
    printf '\n==> %s\n' "$*"
}

info() {
    printf '    %s\n' "$*"
}

# Prints an error to stderr and exits 1.
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() {
    [ "$(id -u)" -eq 0 ]
}

is_debian() {
    [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1
}

# Whether `apt-get update` already ran in this script, so it runs at most once.
APT_UPDATED=0

# Installs Debian packages as root without prompts. Callers check is_root and
# is_debian first, and print what to run otherwise.
apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        info "running apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null ||
            die "apt-get update failed: check the package sources in /etc/apt"
        APT_UPDATED=1
    fi
    info "installing $*"
    DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l apt-get install -y -q "$@" >/dev/null ||
        die "apt-get install $* failed"
}

# Makes sure a command exists, installing the Debian package that provides it
# when this is Debian and we are root.
require_command() {
    local command_name="$1" package="$2"
    if command -v "$command_name" >/dev/null 2>&1; then
        return 0
    fi
    if is_root && is_debian; then
        apt_install "$package"
        command -v "$command_name" >/dev/null 2>&1 ||
            die "\`$command_name\` is still missing after installing the package \`$package\`"
        return 0
    fi
    die "\`$command_name\` is not installed: install the package \`$package\` (apt-get install $package)"
}

# Makes sure rustup and cargo are on PATH, including rustup's default location
# for shells that did not source ~/.cargo/env.
require_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 ||
        die "cargo is not installed: install Rust with rustup (https://rustup.rs), then rerun"
    command -v rustup >/dev/null 2>&1 ||
        die "rustup is not installed: the guests need \`rustup target add wasm32-wasip2\`; install Rust with rustup (https://rustup.rs)"
}
