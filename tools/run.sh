#!/usr/bin/env bash
# Sets up camservice (idempotently) and runs it in the foreground on the
# packaged default configuration (or the --config FILE given). Ctrl-C stops it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
tools/bootstrap.sh latest

port=${CAMSERVICE_SERVER__PORT:-8002}
cat >&2 <<MSG

camservice is starting on ws://127.0.0.1:${port}/ws
  health:   curl http://127.0.0.1:${port}/health/ready
  a token:  $here/.venv/bin/camservice-admin token --role admin
  then send {"jsonrpc":"2.0","id":1,"method":"authenticate","params":{"auth_token":"<token>"}}
  over the WebSocket, then e.g. {"jsonrpc":"2.0","id":2,"method":"get_camera_list"}
  (README.rst, "Talking to the API", has a ready-made Python client snippet)

MSG
exec .venv/bin/twistd --nodaemon --pidfile= camservice "$@"
