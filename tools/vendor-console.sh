#!/usr/bin/env bash
# Vendors hls.js (the web console's HLS player) into the package, from the
# npm registry at a pinned version whose tarball checksum is pinned too:
#   camservice/console/static/vendor/hls.min.js
#   camservice/console/static/vendor/hls.js-LICENSE.txt
# The result is committed, so installing camservice needs no npm. To move
# to another version, change HLS_VERSION and HLS_SHA256 (from a first run:
# it prints the checksum it got) and run this again.
# Usage: tools/vendor-console.sh   (needs npm)
set -euo pipefail

HLS_VERSION=1.6.15
HLS_SHA256=d1e3fb5d876fae924a1073d8c6cef04c5ccd327a4bddc9e8ece575b0aad68742

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$here/camservice/console/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "hls.js@$HLS_VERSION" >/dev/null)
tarball="$work/hls.js-$HLS_VERSION.tgz"
got=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$got" != "$HLS_SHA256" ]; then
    echo "vendor-console: hls.js $HLS_VERSION tarball has sha256 $got, expected $HLS_SHA256" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$work" package/dist/hls.min.js package/LICENSE package/package.json
grep -q "\"version\": \"$HLS_VERSION\"" "$work/package/package.json"
mkdir -p "$dest"
# the source map is not shipped: drop the comment that points at it
sed '/^\/\/# sourceMappingURL=/d' "$work/package/dist/hls.min.js" > "$dest/hls.min.js.tmp"
mv "$dest/hls.min.js.tmp" "$dest/hls.min.js"
{
    echo "hls.js $HLS_VERSION (https://github.com/video-dev/hls.js), npm tarball sha256 $HLS_SHA256,"
    echo "dist/hls.min.js shipped as hls.min.js. Its licence follows."
    echo
    cat "$work/package/LICENSE"
} > "$dest/hls.js-LICENSE.txt"
echo "vendored hls.js $HLS_VERSION into ${dest#$here/}"
