"""``camctl``'s entry point: parse, then run the command on the reactor
(``twisted.internet.task.react``), and turn every failure into one line
on stderr and its documented exit code (:mod:`camservice.cli.exits`)."""
from __future__ import annotations

import os
import sys
from typing import Mapping, Optional, Sequence, TextIO

from camservice.cli import exits
from camservice.cli.args import parse
from camservice.cli.exits import CliError
from camservice.cli.output import Output, reader_gone

__all__ = ["main", "run"]


def _commands() -> dict:
    from camservice.cli.commands import cameras, events, media, system

    return {
        "cameras": cameras.cameras,
        "status": cameras.status,
        "stream-url": cameras.stream_url,
        "snapshot": media.snapshot,
        "record": media.record,
        "stop": media.stop,
        "files": media.files,
        "download": media.download,
        "delete": media.delete,
        "watch": events.watch,
        "sessions": system.sessions,
    }


def run(argv: Optional[Sequence[str]] = None, environ: Optional[Mapping[str, str]] = None,
        stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None) -> int:
    """Run camctl; the exit code."""
    environ = os.environ if environ is None else environ
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        args = parse(argv)
    except SystemExit as e:  # argparse: 2 for a usage error, 0 for --help
        return e.code if isinstance(e.code, int) else exits.USAGE
    out = Output(stdout, stderr, args.json)
    try:
        if args.command == "completion":
            from camservice.cli.completion import script

            stdout.write(script(args.shell))
            return exits.OK
        if args.command == "fleet":
            from camservice.cli.fleet import fleet

            try:
                return fleet(args, out, environ)
            except KeyboardInterrupt:  # paho's loop runs in this thread, no reactor
                out.error("interrupted", exits.INTERRUPTED)
                return exits.INTERRUPTED
            except BrokenPipeError:
                reader_gone(stdout)
                return exits.FAILED
        from camservice.cli.target import resolve

        target = resolve(args.url, args.token, args.api_key, args.ca_file, args.timeout, environ, args.cert, args.key)
    except CliError as e:
        out.error(e.message, e.exit_code, e.detail)
        return e.exit_code
    return _react(_commands()[args.command], args, target, out)


def _react(command, args, target, out: Output) -> int:
    from twisted.internet import task

    try:
        task.react(lambda reactor: _start(reactor, command, args, target, out))
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else exits.FAILED
    return exits.OK  # pragma: no cover - react always exits


def _start(reactor, command, args, target, out: Output):
    """The Deferred ``react`` waits for; a reactor shutdown (Ctrl-C)
    cancels the command and waits for its connection to close."""
    from twisted.internet import defer

    from camservice.cli.context import Context

    ctx = Context(reactor, target, out)
    finished: defer.Deferred = defer.Deferred()

    async def guarded():
        try:
            code = await command(ctx, args)
        except defer.CancelledError:
            if args.command == "watch":
                code = exits.OK
            else:
                out.error("interrupted" + ("; run it again to resume" if args.command == "download" else ""),
                          exits.INTERRUPTED)
                code = exits.INTERRUPTED
        except CliError as e:
            out.error(e.message, e.exit_code, e.detail)
            code = e.exit_code
        except BrokenPipeError:  # `camctl files | head`: the reader is done
            reader_gone(out.stdout)
            code = exits.FAILED
        except Exception as e:  # the top-level boundary: a bug, said in one line
            out.error(f"unexpected error: {type(e).__name__}: {e}", exits.FAILED)
            code = exits.FAILED
        finally:
            try:
                await ctx.close()
            finally:
                finished.callback(None)
        if code != exits.OK:
            raise SystemExit(code)

    running = defer.ensureDeferred(guarded())

    def on_shutdown():
        if finished.called:
            return None
        running.cancel()
        return finished.addTimeout(5, reactor).addErrback(lambda _f: None)

    reactor.addSystemEventTrigger("before", "shutdown", on_shutdown)
    return running


def main() -> None:
    """The ``camctl`` console script."""
    sys.exit(run())


if __name__ == "__main__":  # pragma: no cover
    main()
