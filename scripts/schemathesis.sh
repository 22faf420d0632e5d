#!/usr/bin/env bash
# HTTP robustness: schemathesis (PyPI) against the OpenAPI document of a running druid-k8s.
# Starts `druid-k8s demo` (simulator + server on 127.0.0.1) on a free port, runs schemathesis
# for a bounded number of examples per operation, stops the demo. Exit code = schemathesis's.
#   scripts/schemathesis.sh [BINARY] [MAX_EXAMPLES]
# CHECKS picks schemathesis checks (default: all). CI runs the response checks only:
#   CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,\
#          response_schema_conformance,response_headers_conformance
set -euo pipefail
BIN=${1:-target/debug/druid-k8s}
MAX=${2:-50}
CHECKS=${CHECKS:-all}
ST=$(command -v st || true)
if [ -z "$ST" ]; then
  python3 -m pip install --quiet --disable-pip-version-check schemathesis==4.32.5
  ST="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/st"
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATA=$(mktemp -d)
"$BIN" demo --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$DATA/demo.log" 2>&1 &
DEMO=$!
trap 'kill $DEMO 2>/dev/null; wait $DEMO 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/status/health" >/dev/null 2>&1 && break
  sleep 0.3
done
"$ST" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks "$CHECKS" \
  --max-examples "$MAX" \
  --request-timeout 20 \
  --max-response-time 20
