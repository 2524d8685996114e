#!/usr/bin/env bash
# Issue item 4 (Python): generate a client from the committed OpenAPI document with the pinned
# openapi-python-client (--fail-on-warning: an operation the generator has to skip fails the
# step), install it into .ci/venv, and run .ci/scenarios/python_scenario.py against a live server.
set -euo pipefail
STEP_NAME=python-client
source "$(dirname "$0")/../lib/server.sh"
ensure_venv
cd "$ROOT"

GEN="$OUT/python-client"
rm -rf "$GEN"
log "openapi-python-client generate (into ${GEN#$ROOT/})"
openapi-python-client generate --path openapi/openapi.json --output-path "$GEN" \
    --meta setup --config .ci/openapi-python-client.yaml --fail-on-warning
python -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$GEN"
python -c 'import tokenwarden_client, httpx, attrs'  # runtime deps are pinned in requirements.txt

start_server
log "python .ci/scenarios/python_scenario.py"
OPENAPI="$ROOT/openapi/openapi.json" python .ci/scenarios/python_scenario.py
