#!/usr/bin/env bash
# Sets up what camservice needs on Debian 12, idempotently:
#   - Debian packages (apt) it runs and tests with;
#   - .venv:        the project and the newest PyPI releases of its dependencies;
#   - .venv-debian: the project on Debian 12's packaged Twisted, Autobahn, treq...
#                   (python3 -m venv --system-site-packages), what the .deb runs on;
#   - the pinned MediaMTX, built once into ~/.cache/camservice (tools/build-mediamtx.sh).
# Usage: tools/bootstrap.sh [latest|debian|all]   (default: latest)
# A second run with nothing changed installs nothing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
what=${1:-latest}
PY=/usr/bin/python3

# Packages for running (latest venv) and for the Debian-packaged test matrix.
APT_RUN=(python3 python3-venv python3-pip ca-certificates ffmpeg v4l-utils)
# USB discovery is tested against libudev faked by umockdev; the MQTT
# bridge and camctl fleet against a real Mosquitto; the web console in
# Debian's Chromium through its chromedriver and in its Firefox ESR over
# WebDriver BiDi (tests/browser)
APT_TEST=(umockdev gir1.2-umockdev-1.0 python3-gi mosquitto mosquitto-clients chromium chromium-driver firefox-esr)
APT_DEBIAN=(python3-twisted python3-autobahn python3-treq python3-pyudev python3-yaml
            python3-jsonschema python3-jwt python3-prometheus-client python3-service-identity
            python3-ujson python3-setuptools python3-pytest python3-pytest-twisted python3-paho-mqtt
            python3-selenium python3-websocket)
# Building the wheel and the .debs (debian/, tests/integration/test_install.py
# and test_debian_package.py) on a fresh Debian 12
APT_PACKAGING=(python3-wheel build-essential debhelper dh-python python3-all dpkg-dev
               fakeroot lintian adduser)

say() { printf '[bootstrap] %s\n' "$*" >&2; }

apt_ensure() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        say "missing Debian packages: ${missing[*]}"
        say "run as root, or: sudo apt-get install ${missing[*]}"
        exit 1
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# stamp NAME CONTENT: true when the stamp already holds CONTENT
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

project_hash() { cat setup.py camservice/__init__.py | sha256sum | cut -c1-16; }

venv_latest() {
    apt_ensure "${APT_RUN[@]}"
    local stamp=.venv/.camservice-stamp want
    want="latest $(project_hash)"
    if [ -x .venv/bin/python ] && stamp_ok "$stamp" "$want"; then
        return 0
    fi
    say "creating .venv with the newest releases from PyPI"
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q --upgrade --upgrade-strategy eager \
        --config-settings editable_mode=compat -e '.[test,fast]'
    .venv/bin/python -c 'from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))'
    echo "$want" > "$stamp"
}

# The tests drive umockdev through GObject introspection (Debian's
# python3-gi, built for this same /usr/bin/python3). .venv gets that one
# module, and nothing else of Debian's, through a folder of its own.
gi_for_latest() {
    apt_ensure "${APT_TEST[@]}"
    local site
    site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    if ! [ -e "$site/_debian_gi/gi" ]; then
        mkdir -p "$site/_debian_gi"
        ln -sfn /usr/lib/python3/dist-packages/gi "$site/_debian_gi/gi"
        echo "$site/_debian_gi" > "$site/_debian_gi.pth"
    fi
}

venv_debian() {
    apt_ensure "${APT_RUN[@]}" "${APT_DEBIAN[@]}"
    local stamp=.venv-debian/.camservice-stamp want
    want="debian $(project_hash)"
    if [ -x .venv-debian/bin/python ] && stamp_ok "$stamp" "$want"; then
        return 0
    fi
    say "creating .venv-debian on Debian's packaged libraries"
    [ -x .venv-debian/bin/python ] || "$PY" -m venv --system-site-packages .venv-debian
    .venv-debian/bin/pip install -q --no-deps --no-build-isolation \
        --config-settings editable_mode=compat -e .
    .venv-debian/bin/python -c 'from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))'
    echo "$want" > "$stamp"
}

mediamtx() { tools/build-mediamtx.sh >/dev/null; }

case "$what" in
    latest) venv_latest; mediamtx ;;
    debian) venv_debian; apt_ensure "${APT_TEST[@]}"; mediamtx ;;
    all) venv_latest; gi_for_latest; venv_debian; apt_ensure "${APT_TEST[@]}" "${APT_PACKAGING[@]}"; mediamtx ;;
    *) echo "usage: $0 [latest|debian|all]" >&2; exit 2 ;;
esac
