"""``twistd camservice``: command-line options and the service maker."""
from __future__ import annotations

import os
import sys

from twisted.python import usage

from camservice import __version__
from camservice.config import ConfigError, default_config_path, load_config

__all__ = ["Options", "makeService"]


class Options(usage.Options):
    """Options of ``twistd camservice``."""

    synopsis = "[--config FILE]"
    longdesc = (
        "Run camservice: cameras managed over a WebSocket JSON-RPC API. "
        "Without --config the packaged default configuration is used "
        f"({default_config_path()}). Any key can be overridden by an "
        "environment variable CAMSERVICE_<SECTION>__<KEY>, e.g. "
        "CAMSERVICE_SERVER__PORT=9000. Logs go to stdout: JSON lines, or "
        "text on a terminal (logging.format)."
    )
    optParameters = [
        ["config", "c", None, "YAML configuration file (default: the packaged default)."],
    ]

    def opt_version(self):
        print(f"camservice {__version__}")
        sys.exit(0)

    # usage.Options shows an opt_ method's docstring as its help; the unit
    # runs Python with -OO, which drops docstrings, so the help is a string
    opt_version.__doc__ = "Print the camservice version and exit."


def _config_errors(error: ConfigError):
    """One line per problem on stderr, then exit with status 2."""
    for line in error.lines():
        sys.stderr.write(f"camservice: config error: {line}\n")
    raise SystemExit(2)


def makeService(options: Options):
    """Load and validate the configuration, then build the service tree.

    On a bad configuration it writes one line per problem to stderr and
    exits with status 2; nothing has been started.

    The configuration is read before the reactor is imported (twistd does
    not import it before ``makeService`` unless ``--reactor`` is given), so
    that libraries of features left off stay out of the process
    (:mod:`camservice.ops.optional_modules`).
    """
    try:
        config = load_config(options["config"])
    except ConfigError as e:
        _config_errors(e)

    from camservice.ops.optional_modules import ModuleBlock, modules_to_keep_out

    # for the life of the process: TLS and the manhole cannot be turned on
    # without a restart. Before camservice.auth, whose PyJWT would import
    # cryptography.
    ModuleBlock(modules_to_keep_out(config)).block()

    from camservice.auth.secret import load_or_create_secret

    try:
        secret = load_or_create_secret(config.auth)
    except ConfigError as e:
        _config_errors(e)

    from twisted.internet import reactor

    from camservice.app import build_service

    def on_start_failure(failure):
        # A child failed after the reactor started: stop rather than run
        # half a service, and exit non-zero so a supervisor (systemd's
        # Restart=on-failure) sees it. twistd itself always exits 0 after a
        # reactor stop, hence the explicit exit once shutdown is complete.
        def exit_failed():
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)

        reactor.addSystemEventTrigger("after", "shutdown", exit_failed)
        # twistd starts the tree before it runs the reactor: stop it once
        # it runs (at once if it already does)
        reactor.callWhenRunning(reactor.stop)

    if config.migrated_from is not None:
        from twisted.logger import Logger

        Logger(namespace="camservice.config").warn(
            "{source}: version {old_version} migrated to {version}; update the file",
            source=config.source, old_version=config.migrated_from, version=config.version,
        )

    from camservice.signals import SignalService

    try:
        tree = build_service(config, secret, reactor, on_start_failure)
    except ConfigError as e:  # a TLS certificate, the stream key or the Control API password file
        _config_errors(e)
    from camservice.memory import freeze_startup_objects

    # twistd starts the tree before it runs the reactor (tree.started is
    # set by then); what exists once every child has started lives as long
    # as the process
    reactor.callWhenRunning(lambda: tree.started.addCallback(lambda _: freeze_startup_objects()))
    reload = tree.getServiceNamed("reload")
    signals = SignalService(reactor, on_reload=lambda: reload.reload("SIGHUP"))
    signals.setName("signals")
    signals.setServiceParent(tree)
    return tree
