#!/usr/bin/env bash
# Issue item 5: Schemathesis (pinned, .ci/requirements.txt) over every operation of the committed
# OpenAPI document against a live server: all checks, all phases, a fixed seed.
# The organization is seeded first (.ci/lib/seed.py: brands with sandbox accounts connected over
# the real OAuth flow), so the document's links lead the stateful phase to real ids; the hooks
# (.ci/lib/schemathesis_hooks.py) tell the generator, for positive cases only, what no static
# schema can say about this deployment (its networks, its return-URL allow-list, real tokens to
# import, fresh Idempotency-Keys).
#  1. every operation that does not need platform:admin, with a tenant token holding every
#     tenant scope (TOKEN from .ci/lib/server.sh);
#  2. the platform:admin operations (.ci/lib/platform_ops.py) with the platform token.
# Both run against a server on SQLite, then again against one on PostgreSQL (a fresh database
# on the server of TOKENWARDEN_TEST_POSTGRES_URL, see .ci/lib/server.sh): PostgreSQL refuses
# what SQLite stores (U+0000 in text answered 500 there only), so generated input must meet both.
# Every run goes to the end; the step fails if any found anything. Reports (JUnit, and a pytest
# file reproducing failures) go to .ci/out/schemathesis/<backend>/.
set -euo pipefail
STEP_NAME=schemathesis
source "$(dirname "$0")/../lib/server.sh"
ensure_venv
cd "$ROOT"

SEED="${SCHEMATHESIS_SEED:-20261126}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
REPORTS="$OUT/schemathesis"
rm -rf "$REPORTS"; mkdir -p "$REPORTS"
export SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$ROOT/.ci/lib${PYTHONPATH:+:$PYTHONPATH}"

mapfile -t PLATFORM_OPS < <(python3 .ci/lib/platform_ops.py openapi/openapi.json)
mapfile -t TENANT_OPS < <(python3 .ci/lib/platform_ops.py openapi/openapi.json --others)

st() { # st BACKEND/NAME TOKEN OPERATION-IDS...
    local name="$1" token="$2"; shift 2
    local filters=()
    for id in "$@"; do filters+=(--include-operation-id "$id"); done
    log "schemathesis run ($name: $# operations, seed $SEED)"
    mkdir -p "$REPORTS/$name"
    # run inside the report folder: Schemathesis keeps its crash cache (.schemathesis/, for
    # `st replay`) in the working directory; a fresh one each run keeps the run reproducible.
    (cd "$REPORTS/$name" && schemathesis run "$ROOT/openapi/openapi.json" --url "$BASE_URL" \
        --checks all --phases examples,coverage,fuzzing,stateful \
        --seed "$SEED" --max-examples "$MAX_EXAMPLES" --workers 1 \
        --header "Authorization: Bearer $token" \
        --generation-database none --no-color \
        --report junit,pytest --report-dir "$REPORTS/$name" \
        "${filters[@]}")
}

status=0
for backend in sqlite postgres; do
    mkdir -p "$REPORTS/$backend"
    start_server "$backend"
    log "seed ($backend): two brands, sandbox accounts connected over OAuth (.ci/lib/seed.py)"
    python .ci/lib/seed.py | tee "$REPORTS/$backend/seed.json"
    [ "${#TENANT_OPS[@]}" -gt 0 ] && { st "$backend/tenant" "$TOKEN" "${TENANT_OPS[@]}" || status=1; }
    [ "${#PLATFORM_OPS[@]}" -gt 0 ] && { st "$backend/platform" "$PLATFORM_TOKEN" "${PLATFORM_OPS[@]}" || status=1; }
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then log "the $backend server died during the run"; status=1; fi
    stop_server
done
[ "$status" -eq 0 ] && log "schemathesis: nothing found" || log "FAILED: schemathesis found problems (reports in ${REPORTS#$ROOT/})"
exit "$status"
