# Shared helpers of the CI steps: pinned tool installs. Source it from a step:
#   source "$(dirname "$0")/../lib/tools.sh"
# Every install is idempotent: it is redone only when the pin file changed.
set -euo pipefail

CI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$CI_DIR/.." && pwd)"
OUT="$CI_DIR/out"
mkdir -p "$OUT"
export NO_COLOR=1 FORCE_COLOR=0

log() { printf '[%s %s] %s\n' "$(date -u +%H:%M:%S)" "${STEP_NAME:-ci}" "$*"; }

_hash() { sha256sum "$@" | sha256sum | cut -c1-16; }

# npm tools pinned in .ci/package.json + package-lock.json (npm ci, scripts off by .ci/.npmrc).
ensure_node_tools() {
    local stamp="$CI_DIR/node_modules/.ci-stamp" want
    want="$(_hash "$CI_DIR/package.json" "$CI_DIR/package-lock.json")"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "npm ci --prefix .ci"
        (cd "$CI_DIR" && npm ci --prefix "$CI_DIR" --no-audit --no-fund --loglevel=error)
        echo "$want" > "$stamp"
    fi
    export PATH="$CI_DIR/node_modules/.bin:$PATH"
}

# Python tools pinned in .ci/requirements.txt, in the venv .ci/venv.
ensure_venv() {
    local stamp="$CI_DIR/venv/.ci-stamp" want
    want="$(_hash "$CI_DIR/requirements.txt" "$CI_DIR/constraints.txt")"
    if [ ! -x "$CI_DIR/venv/bin/python" ]; then
        log "python3 -m venv .ci/venv"
        python3 -m venv "$CI_DIR/venv"
    fi
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "pip install -r .ci/requirements.txt"
        "$CI_DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r "$CI_DIR/requirements.txt" -c "$CI_DIR/constraints.txt"
        echo "$want" > "$stamp"
    fi
    export PATH="$CI_DIR/venv/bin:$PATH"
}

# Debian's Chromium for the browser steps, installed when /usr/bin/chromium is missing.
ensure_chromium() {
    if [ ! -x /usr/bin/chromium ]; then
        log "apt-get install chromium"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq chromium >/dev/null
    fi
    log "$(/usr/bin/chromium --version 2>/dev/null | head -1)"
}
