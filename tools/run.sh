#!/usr/bin/env bash
# Sets up camservice (idempotently: Debian packages, .venv, the pinned
# MediaMTX) and runs it in the foreground on the packaged default
# configuration, or on the --config FILE given, in the environment the
# systemd unit gives it. Ctrl-C stops it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
tools/bootstrap.sh latest

config=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --config|-c) config=(--config "${args[$((i + 1))]}") ;;
        --config=*) config=(--config "${args[$i]#--config=}") ;;
    esac
done

echo >&2
.venv/bin/camservice-admin "${config[@]}" check-config >&2 || exit 2
echo >&2
echo "Stream URLs (they carry a token when streams.signed_urls is on; mint fresh ones" >&2
echo "with: $here/.venv/bin/camservice-admin ${config[*]} stream-url CAMERA):" >&2
.venv/bin/camservice-admin "${config[@]}" stream-url >&2 2>&1 || true
cat >&2 <<MSG

Play a stream:   ffplay 'RTSP URL'   (quote it: the token is in the query string),
                 or open the HLS URL with hls.js / Safari, or POST a WHEP offer to the WebRTC URL
Mint a token:    $here/.venv/bin/camservice-admin ${config[*]} token --role admin
Then over the WebSocket send
  {"jsonrpc":"2.0","id":1,"method":"authenticate","params":{"auth_token":"<token>"}}
  {"jsonrpc":"2.0","id":2,"method":"get_camera_list"}
(README.rst, "Talking to the API", has a ready-made Python client.)

MSG
# as the systemd unit runs it: its Environment= lines (tools/service_env.py),
# the bytecode cached in ~/.cache/camservice/pycache
mapfile -t unit_env < <(.venv/bin/python tools/service_env.py)
exec env -u PYTHONDONTWRITEBYTECODE "${unit_env[@]}" .venv/bin/twistd --nodaemon --pidfile= camservice "$@"
