#!/usr/bin/env bash
# Issue item 6: the pages people look at, in a real browser. Installs Debian's chromium when
# /usr/bin/chromium is missing, starts a live server and takes full-page screenshots with the
# pinned playwright-core (.ci/lib/screenshots.mjs) into .ci/out/screenshots/:
#  - docs.png: GET /docs must answer 200 and Swagger UI must render the title "tokenwarden"
#    with its operations, loading nothing from outside the machine;
#  - sandbox-authorize.png: only once the sandbox network is mounted (--sandbox): a redirect URI
#    is registered through its control API and a PKCE authorization request must answer 200
#    with the Approve form. While /sandbox is not mounted this page is skipped, and the step
#    says so.
set -euo pipefail
STEP_NAME=screenshots
source "$(dirname "$0")/../lib/server.sh"

ensure_chromium
ensure_node_tools
start_server
cd "$ROOT"

SHOTS="$OUT/screenshots"
rm -rf "$SHOTS"; mkdir -p "$SHOTS"
pages=()

docs_status="$(curl -s -o /dev/null -w '%{http_code}' -L "$BASE_URL/docs")"
if [ "$docs_status" = 200 ]; then
    pages+=("docs|$BASE_URL/docs|tokenwarden")
else
    log "GET /docs answers $docs_status (Swagger UI belongs at /docs); screenshotting /docs/ as well"
    pages+=("docs|$BASE_URL/docs|tokenwarden" "docs-slash|$BASE_URL/docs/|tokenwarden")
fi

redirect="$BASE_URL/v1/oauth/callback/sandbox"
if curl -fsS -o /dev/null -X POST "$BASE_URL/sandbox/control/redirect-uris" \
        -H 'Content-Type: application/json' -d "{\"uri\": \"$redirect\"}" 2>/dev/null; then
    challenge="$(python3 -c 'import base64,hashlib,os; v=base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"="); print(base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b"=").decode())')"
    query="$(python3 -c 'import sys,urllib.parse as u; print(u.urlencode({"client_id":"sandbox-client","redirect_uri":sys.argv[1],"response_type":"code","scope":"profile offline_access","state":"ci-screenshot","code_challenge":sys.argv[2],"code_challenge_method":"S256"}))' "$redirect" "$challenge")"
    auth_url="$BASE_URL/sandbox/authorize?$query"
    auth_status="$(curl -s -o /dev/null -w '%{http_code}' "$auth_url")"
    log "sandbox is mounted; GET /sandbox/authorize answers $auth_status"
    pages+=("sandbox-authorize|$auth_url|Approve")
    SANDBOX="ran"
else
    log "SKIPPED sandbox-authorize: /sandbox is not mounted on this server (POST /sandbox/control/redirect-uris answers $(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE_URL/sandbox/control/redirect-uris")); the page will be screenshotted once it is"
    SANDBOX="skipped"
fi

log "node .ci/lib/screenshots.mjs (${#pages[@]} pages)"
status=0
node .ci/lib/screenshots.mjs "$SHOTS" "${pages[@]}" || status=1
[ "$docs_status" = 200 ] || status=1
log "screenshots in ${SHOTS#$ROOT/}: $(cd "$SHOTS" && ls *.png | tr '\n' ' '); sandbox-authorize: $SANDBOX"
exit "$status"
