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
# Both runs go to the end; the step fails if either found anything. Reports (JUnit, and a pytest
# file reproducing failures) go to .ci/out/schemathesis/.
set -euo pipefail
STEP_NAME=schemathesis
source "$(dirname "$0")/../lib/server.sh"
ensure_venv
cd "$ROOT"

SEED="${SCHEMATHESIS_SEED:-20261126}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
REPORTS="$OUT/schemathesis"
rm -rf "$REPORTS"; mkdir -p "$REPORTS"
start_server
log "seed: two brands, sandbox accounts connected over OAuth (.ci/lib/seed.py)"
python .ci/lib/seed.py | tee "$REPORTS/seed.json"
export SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$ROOT/.ci/lib${PYTHONPATH:+:$PYTHONPATH}"

mapfile -t PLATFORM_OPS < <(python3 .ci/lib/platform_ops.py openapi/openapi.json)
mapfile -t TENANT_OPS < <(python3 .ci/lib/platform_ops.py openapi/openapi.json --others)

st() { # st NAME TOKEN OPERATION-IDS...
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
[ "${#TENANT_OPS[@]}" -gt 0 ] && { st tenant "$TOKEN" "${TENANT_OPS[@]}" || status=1; }
[ "${#PLATFORM_OPS[@]}" -gt 0 ] && { st platform "$PLATFORM_TOKEN" "${PLATFORM_OPS[@]}" || status=1; }
if ! kill -0 "$SERVER_PID" 2>/dev/null; then log "the server died during the run"; status=1; fi
[ "$status" -eq 0 ] && log "schemathesis: nothing found" || log "FAILED: schemathesis found problems (reports in ${REPORTS#$ROOT/})"
exit "$status"
