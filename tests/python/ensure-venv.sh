#!/usr/bin/env bash
# Create (once) a Python venv with the pinned real arq + msgpack, used to generate and
# cross-check test vectors. Safe to call concurrently: all work happens under flock.
# Prints the venv's python path on stdout and nothing else; progress goes to stderr.
#
# Env: VENV    venv directory (default: <project root>/target/pyvenv)
#      PYTHON  interpreter used to create the venv (default: python3)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
REQ="$SCRIPT_DIR/requirements.txt"
VENV="${VENV:-$ROOT/target/pyvenv}"
PYTHON="${PYTHON:-python3}"

mkdir -p "$(dirname "$VENV")"
LOCK="$VENV.lock"

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
stamp="$VENV/.requirements.sha256"

is_ready() {
    [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]
}

if ! is_ready; then
    exec 9>"$LOCK"
    flock 9
    if ! is_ready; then
        echo "ensure-venv: (re)creating $VENV" >&2
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV" >&2
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r "$REQ" >&2
        cp "$REQ" "$VENV/requirements.txt"
        echo "$want" > "$stamp"
        echo "ensure-venv: ready" >&2
    fi
    flock -u 9
    exec 9>&-
fi

echo "$VENV/bin/python"
