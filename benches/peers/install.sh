#!/usr/bin/env bash
# Installs the peers of `scripts/bench --peers` into DIR (default target/peers), each from its
# registry: BullMQ with npm (Node from Debian's nodejs/npm when node is missing), Sidekiq as
# Debian's ruby-sidekiq (apt, as root), saq, taskiq + taskiq-redis, RQ and Celery with pip in
# DIR/venv. Writes DIR/status.json: {peer: why it cannot run}, for each peer that failed, so
# its row in the table says why (none is skipped silently). Never fails itself: a peer that
# cannot be installed is a row, not an aborted bench. Re-running reuses what is installed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${1:-$HERE/../../target/peers}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
LOG="$DIR/install.log"
: > "$LOG"
declare -A WHY=()
say() { echo "bench peers: $*" >&2; }

apt_install() {
    if [[ "$(id -u)" != 0 ]]; then
        echo "not root: apt-get install $* needs root"
        return 1
    fi
    if ! apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >>"$LOG" 2>&1; then
        apt-get update -qq >>"$LOG" 2>&1
        apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >>"$LOG" 2>&1 \
            || { echo "apt-get install $* failed (see $LOG)"; return 1; }
    fi
}

# BullMQ (npm), on Node.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    say "installing Debian's nodejs and npm"
    why="$(apt_install nodejs npm)" || WHY[BullMQ]="Node.js: $why"
fi
if [[ -z "${WHY[BullMQ]:-}" ]]; then
    mkdir -p "$DIR/node"
    cp "$HERE/bullmq/package.json" "$DIR/node/package.json"
    if [[ ! -f "$DIR/node/node_modules/bullmq/package.json" ]] || ! cmp -s "$HERE/bullmq/package.json" "$DIR/node/.installed"; then
        say "npm install bullmq"
        if (cd "$DIR/node" && npm install --no-audit --no-fund --loglevel=error >>"$LOG" 2>&1); then
            cp "$HERE/bullmq/package.json" "$DIR/node/.installed"
        else
            WHY[BullMQ]="npm install bullmq failed (see $LOG)"
        fi
    fi
fi

# Sidekiq: Debian's package (its Ruby and redis gem come with it).
if ! command -v sidekiq >/dev/null; then
    say "apt-get install ruby-sidekiq"
    why="$(apt_install ruby-sidekiq)" || WHY[Sidekiq]="$why"
fi
command -v sidekiq >/dev/null || WHY[Sidekiq]="${WHY[Sidekiq]:-sidekiq not on PATH after installing ruby-sidekiq}"

# The Python peers, one venv; each peer installed on its own so one failure names one peer.
PYTHON="${PYTHON:-python3}"
REQ="$HERE/python/requirements.txt"
if [[ ! -x "$DIR/venv/bin/python" ]]; then
    "$PYTHON" -m venv "$DIR/venv" >>"$LOG" 2>&1 || true
fi
declare -A PIP=([saq]="saq" [taskiq]="taskiq taskiq-redis" [RQ]="rq" [Celery]="celery")
for peer in saq taskiq RQ Celery; do
    if [[ ! -x "$DIR/venv/bin/python" ]]; then
        WHY[$peer]="cannot make a venv with $PYTHON -m venv (see $LOG)"
        continue
    fi
    # The pinned lines of this peer's packages.
    reqs=()
    for pkg in ${PIP[$peer]}; do
        line="$(grep -iE "^${pkg}(\[[a-z,]+\])?==" "$REQ")"
        reqs+=("$line")
    done
    if ! "$DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${reqs[@]}" >>"$LOG" 2>&1; then
        WHY[$peer]="pip install ${reqs[*]} failed (see $LOG)"
    fi
done

{
    echo "{"
    first=1
    for peer in "${!WHY[@]}"; do
        [[ $first == 1 ]] || echo ","
        first=0
        printf '  "%s": "%s"' "$peer" "$(printf '%s' "${WHY[$peer]}" | sed 's/\\/\\\\/g; s/"/\\"/g')"
    done
    echo
    echo "}"
} > "$DIR/status.json"
if [[ ${#WHY[@]} -gt 0 ]]; then
    for peer in "${!WHY[@]}"; do say "$peer: ${WHY[$peer]}"; done
fi
say "installed into $DIR"
exit 0
