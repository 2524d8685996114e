#!/usr/bin/env bash
# The demo's reference front end in a real browser, which is also the browser test of CORS:
# `tokenwarden demo` serves the page on a second port (another origin) and allows that origin
# in cors.allowed_origins; Debian's Chromium, driven by the pinned playwright-core
# (.ci/lib/frontend.mjs), loads it and checks the badge and dropdown against the seeded data,
# renews @northwindcoffee silently (with propagation), renews @oldpage through the sandbox's
# sign-in in a popup, disables and enables an account, drives Manage Accounts' row menu (the
# keyboard, Renew Token, Reconnect link, Disconnect; each outcome checked on screen and through
# the API), connects a profile with the Connect button, and checks that the same page on an
# origin the API does not allow is refused. Any fetch the browser rejects fails the step.
# Screenshots go to .ci/out/screenshots/frontend-*.png.
set -euo pipefail
STEP_NAME=frontend
# For free_port; this step starts the demo, not server.sh's `serve`.
source "$(dirname "$0")/../lib/server.sh"

ensure_chromium
ensure_node_tools
cd "$ROOT"
log "cargo build --locked"
cargo build --locked --quiet
BIN="$ROOT/target/debug/tokenwarden"

api_port="$(free_port)"
frontend_port="$(free_port)"
DEMO_OUT="$OUT/demo-frontend.out"
DEMO_LOG="$OUT/demo-frontend.log"
DEMO_PID=""
stop_demo() {
    if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then
        # SIGTERM: both servers stop and the demo deletes its temporary data folder.
        kill "$DEMO_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$DEMO_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$DEMO_PID" 2>/dev/null || true
    fi
    return 0
}
trap stop_demo EXIT
trap 'exit 130' INT TERM

log "starting tokenwarden demo: API on 127.0.0.1:$api_port, front end on 127.0.0.1:$frontend_port"
"$BIN" demo --bind "127.0.0.1:$api_port" --frontend-bind "127.0.0.1:$frontend_port" \
    >"$DEMO_OUT" 2>"$DEMO_LOG" &
DEMO_PID=$!
# The guide, with the front end's address, is printed once seeding is done.
url=""
for _ in $(seq 1 600); do
    url="$(sed -n 's/^Front end: //p' "$DEMO_OUT")"
    [ -n "$url" ] && break
    kill -0 "$DEMO_PID" 2>/dev/null || break
    sleep 0.2
done
if [ -z "$url" ]; then
    log "the demo printed no front-end address; its log:"; tail -50 "$DEMO_LOG" >&2; exit 1
fi
log "seeded; the front end is ${url%%#*}"

SHOTS="$OUT/screenshots"
mkdir -p "$SHOTS"
rm -f "$SHOTS"/frontend-*.png
log "node .ci/lib/frontend.mjs"
status=0
node .ci/lib/frontend.mjs "$SHOTS" "$url" || status=1
log "screenshots in ${SHOTS#$ROOT/}: $(cd "$SHOTS" && ls frontend-*.png 2>/dev/null | tr '\n' ' ')"
exit "$status"
