# A live tokenwarden for a CI step. Source it, then call start_server:
#   source "$(dirname "$0")/../lib/server.sh"; start_server [sqlite|postgres]
# It builds the binary, starts `serve --dev --sandbox` (with .ci/tokenwarden-ci.toml: the
# allow-listed return URL https://app.example.com/) on a free loopback port with a fresh data dir, waits for /readyz, creates an organization on the
# Advanced plan with a platform:admin token and exports
#   BASE_URL  TOKEN (every tenant scope)  PLATFORM_TOKEN  ORG_ID  BIN  DATA_DIR
# On SQLite (the default) the database is in the data dir. With `postgres` it is a fresh
# database created with psql on the server of TOKENWARDEN_TEST_POSTGRES_URL (default: the one
# .ci/run uses); PostgreSQL refuses what SQLite stores (U+0000 in text), so a step that feeds
# the API generated input runs on both.
# The server is killed, and its data dir and database removed, by stop_server or when the
# step's shell exits.
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

TENANT_SCOPES="accounts:read accounts:write accounts:import tokens:renew tokens:read org:admin"
SERVER_PID=""
PG_ADMIN_URL="${TOKENWARDEN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DATABASE=""

stop_server() {
    if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
    [ -n "${DATA_DIR:-}" ] && rm -rf "$DATA_DIR"
    if [ -n "$PG_DATABASE" ]; then
        psql "$PG_ADMIN_URL" -qAt -c "DROP DATABASE IF EXISTS $PG_DATABASE WITH (FORCE)" >/dev/null || true
        PG_DATABASE=""
    fi
    return 0
}

# A fresh PostgreSQL database on the server of PG_ADMIN_URL: sets PG_DATABASE and PG_URL.
create_pg_database() {
    PG_DATABASE="tw_ci_$(python3 -c 'import uuid; print(uuid.uuid4().hex)')"
    psql "$PG_ADMIN_URL" -qAt -c "CREATE DATABASE $PG_DATABASE" >/dev/null
    PG_URL="$(python3 -c 'import sys, urllib.parse as p
url = p.urlsplit(sys.argv[1])
print(p.urlunsplit(url._replace(path="/" + sys.argv[2])))' "$PG_ADMIN_URL" "$PG_DATABASE")"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

mint() { # mint ORG SUB "SCOPES"
    "$BIN" --dev --data-dir "$DATA_DIR" token mint --org "$1" --sub "$2" --scope "$3" --ttl 2h
}

start_server() {
    local backend="${1:-sqlite}" database=()
    log "cargo build --locked"
    (cd "$ROOT" && cargo build --locked --quiet)
    BIN="$ROOT/target/debug/tokenwarden"
    DATA_DIR="$(mktemp -d -t tokenwarden-ci.XXXXXX)"
    local port; port="$(free_port)"
    BASE_URL="http://127.0.0.1:$port"
    SERVER_LOG="$OUT/server-${STEP_NAME:-ci}.log"
    trap stop_server EXIT
    trap 'exit 130' INT TERM
    case "$backend" in
        sqlite) ;;
        postgres)
            create_pg_database
            database=(--database-url "$PG_URL")
            SERVER_LOG="$OUT/server-${STEP_NAME:-ci}-postgres.log"
            ;;
        *) log "unknown backend $backend (sqlite or postgres)"; return 1 ;;
    esac
    log "starting $BIN serve on $BASE_URL, $backend (log: ${SERVER_LOG#$ROOT/})"
    RUST_LOG="${RUST_LOG:-info}" "$BIN" --dev --data-dir "$DATA_DIR" "${database[@]}" \
        --config "$CI_DIR/tokenwarden-ci.toml" \
        serve --bind "127.0.0.1:$port" --sandbox \
        >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    local ok=""
    for _ in $(seq 1 300); do
        if curl -fsS -o /dev/null "$BASE_URL/readyz" 2>/dev/null; then ok=1; break; fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.2
    done
    if [ -z "$ok" ]; then
        log "server did not become ready; its log:"; tail -50 "$SERVER_LOG" >&2; return 1
    fi
    PLATFORM_TOKEN="$(mint platform ci-platform "platform:admin")"
    ORG_ID="$(curl -fsS -X POST "$BASE_URL/v1/organizations" \
        -H "Authorization: Bearer $PLATFORM_TOKEN" -H 'Content-Type: application/json' \
        -d '{"name": "CI organization", "plan": "advanced"}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
    TOKEN="$(mint "$ORG_ID" ci "$TENANT_SCOPES")"
    export BASE_URL TOKEN PLATFORM_TOKEN ORG_ID BIN DATA_DIR SERVER_LOG
    log "ready: organization $ORG_ID"
}
