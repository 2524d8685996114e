#!/usr/bin/env bash
# Issue item 4 (TypeScript): generate an SDK from the committed OpenAPI document with the pinned
# @hey-api/openapi-ts (fetch client, types, sdk; .ci/openapi-ts.config.mjs) and type-check it
# with the pinned TypeScript in strict mode (.ci/tsconfig.sdk.json), together with a generated
# check that every documented error is typed as Problem and a client author's usage example.
set -euo pipefail
STEP_NAME=typescript-sdk
source "$(dirname "$0")/../lib/tools.sh"
ensure_node_tools
cd "$ROOT"

rm -rf "$OUT/typescript-sdk" "$OUT/typescript-sdk-checks"
log "openapi-ts -f .ci/openapi-ts.config.mjs"
openapi-ts -f .ci/openapi-ts.config.mjs --no-log-file
node .ci/lib/ts-error-checks.mjs openapi/openapi.json "$OUT/typescript-sdk-checks/errors.check.ts"
log "tsc --noEmit --strict -p .ci/tsconfig.sdk.json ($(tsc --version))"
tsc --noEmit --strict -p .ci/tsconfig.sdk.json
log "generated SDK type-checks strictly: $(find "$OUT/typescript-sdk" -name '*.ts' | wc -l) files"
