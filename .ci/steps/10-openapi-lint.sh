#!/usr/bin/env bash
# Issue item 3: lint the committed OpenAPI document with Redocly CLI and Spectral.
#  - Redocly: the recommended-strict ruleset (every recommended rule at error level);
#    .ci/.redocly.lint-ignore.yaml lists the few genuinely inapplicable findings by pointer.
#  - Spectral: spectral:oas plus tokenwarden's rules (summaries, security, problem+json
#    errors, body examples, described fields with formats and bounds), see .ci/.spectral.yaml;
#    --fail-severity=warn, so any finding fails the step.
# Both run to the end, then the step fails if either failed.
set -euo pipefail
STEP_NAME=openapi-lint
source "$(dirname "$0")/../lib/tools.sh"
ensure_node_tools
cd "$ROOT"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

DOC=openapi/openapi.json
status=0
log "redocly lint --config .ci/.redocly.yaml $DOC"
redocly lint --config .ci/.redocly.yaml --format=stylish "$DOC" || status=1
log "spectral lint --ruleset .ci/.spectral.yaml --fail-severity=warn $DOC"
spectral lint --ruleset .ci/.spectral.yaml --fail-severity=warn --format=stylish "$DOC" || status=1
[ "$status" -eq 0 ] && log "both linters: clean" || log "FAILED: see the findings above"
exit "$status"
