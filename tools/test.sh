#!/usr/bin/env bash
# Sets up everything the tests need (idempotently) and runs the whole suite
# twice: on the newest PyPI releases (.venv) and on Debian 12's packaged
# Twisted/Autobahn/treq/... (.venv-debian). Extra arguments go to pytest.
# The install tests (a wheel in a fresh venv, the .debs) build and run on
# Debian's /usr/bin/python3 whichever venv runs pytest: the first run does
# them, the second skips them (SKIP_INSTALL_TESTS).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
tools/bootstrap.sh all || exit 1

status=0
skip_installs=
for venv in .venv .venv-debian; do
    echo "=== tests on $venv ==="
    # umockdev's preload fakes libudev for the discovery tests; it passes
    # everything else through
    env ${skip_installs:+SKIP_INSTALL_TESTS=1} \
        umockdev-wrapper "$venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
    rc=$?
    # pytest's 5 means "no tests collected": a suite that ran nothing failed.
    [ $rc -eq 0 ] || status=1
    skip_installs=1
done
exit $status
