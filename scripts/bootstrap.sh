#!/usr/bin/env bash
# Sourced by the README's two commands: makes sure this machine has what Menwei needs
# (Debian packages, a virtualenv with the project installed) and does nothing when it
# already has it, so running a command twice is cheap.
set -euo pipefail

MENWEI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MENWEI_VENV:-$MENWEI_ROOT/.venv}"
export MENWEI_ROOT VENV

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_need PKG... installs the Debian packages that are missing, with one apt-get update.
apt_need() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "menwei: installing Debian packages: ${missing[*]}" >&2
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

python_ok() {
    command -v python3 >/dev/null 2>&1 \
        && python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

if ! python_ok; then
    apt_need python3 python3-venv python3-pip
fi

# extras: "dev" for the test suite; "pi" is added on a Raspberry Pi.
ensure_venv() {
    local extras="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        # shellcheck disable=SC2086  # flags are words
        python3 -m venv ${MENWEI_VENV_FLAGS:-} "$VENV"
    fi
    local stamp="$VENV/.menwei-installed"
    local want
    want="$(cat "$MENWEI_ROOT/pyproject.toml" | sha256sum | cut -c1-16)-$extras"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "menwei: installing Python packages into $VENV" >&2
        "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
        "$VENV/bin/python" -m pip install -q -e "$MENWEI_ROOT[$extras]"
        echo "$want" >"$stamp"
    fi
}

is_raspberry_pi() {
    grep -qs "Raspberry Pi" /proc/device-tree/model
}
