#!/usr/bin/env bash
# HTTP robustness: schemathesis (PyPI) against the OpenAPI document of a running druid-k8s.
# Starts `druid-k8s demo` (simulator + server on 127.0.0.1) on a free port, runs every
# schemathesis check for a bounded time, stops the demo. Exit code = schemathesis's.
#   scripts/schemathesis.sh [BINARY] [MAX_EXAMPLES]
set -euo pipefail
BIN=${1:-target/debug/druid-k8s}
MAX=${2:-50}
command -v st >/dev/null || python3 -m pip install --quiet --disable-pip-version-check schemathesis
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATA=$(mktemp -d)
"$BIN" demo --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$DATA/demo.log" 2>&1 &
DEMO=$!
trap 'kill $DEMO 2>/dev/null; wait $DEMO 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/status/health" >/dev/null 2>&1 && break
  sleep 0.3
done
st run "http://127.0.0.1:$PORT/openapi.json" \
  --checks all \
  --max-examples "$MAX" \
  --request-timeout 20 \
  --max-response-time 20
