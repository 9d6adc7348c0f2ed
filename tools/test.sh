#!/usr/bin/env bash
# Sets up everything the tests need (idempotently) and runs the whole suite
# twice: on the newest PyPI releases (.venv) and on Debian 12's packaged
# Twisted/Autobahn/treq/... (.venv-debian). Extra arguments go to pytest.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
tools/bootstrap.sh all || exit 1

status=0
for venv in .venv .venv-debian; do
    echo "=== tests on $venv ==="
    # umockdev's preload fakes libudev for the discovery tests; it passes
    # everything else through
    umockdev-wrapper "$venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
    rc=$?
    # pytest's 5 means "no tests collected": a suite that ran nothing failed.
    [ $rc -eq 0 ] || status=1
done
exit $status
