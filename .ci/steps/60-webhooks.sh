#!/usr/bin/env bash
# Lifecycle webhooks end to end: a live `serve --dev --sandbox` (its worker ticking every second)
# delivers to a real receiver, which verifies every signature with the `standardwebhooks` library
# from PyPI (.ci/scenarios/webhook_receiver.py).
set -euo pipefail
STEP_NAME=webhooks
source "$(dirname "$0")/../lib/server.sh"
ensure_venv
cd "$ROOT"
export TOKENWARDEN_WORKER__TICK_SECS=1
start_server
log "python .ci/scenarios/webhook_receiver.py"
python .ci/scenarios/webhook_receiver.py
