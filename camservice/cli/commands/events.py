"""``watch``: subscribe and print the server's notifications as they
come, until Ctrl-C, ``--count`` events, the reader of a pipe leaving
(all three end with 0), or the server closing."""
from __future__ import annotations

import datetime
import json

from twisted.internet import defer

from camservice.cli import exits
from camservice.cli.args import TOPICS
from camservice.cli.client import Closed
from camservice.cli.output import reader_gone

__all__ = ["describe", "watch"]

#: fields left out of the one-line form (the JSON form has everything)
_QUIET = {"device", "topic", "timestamp", "streams"}


def _now(reactor) -> str:
    moment = datetime.datetime.fromtimestamp(reactor.seconds(), datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(value) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in "\"'=" for c in value):
        return value
    return json.dumps(value, ensure_ascii=False)


def describe(message: dict, received_at: str) -> str:
    """A notification on one line: ``time  what  device  key=value...``.

    ``what`` is the topic of ``event`` notifications, else the method."""
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    method = str(message.get("method"))
    what = params.get("topic") if method == "event" and params.get("topic") else method
    when = params.get("timestamp") or received_at
    rest = " ".join(f"{k}={_value(v)}" for k, v in params.items() if k not in _QUIET)
    text = f"{when}  {what}  {params.get('device') or '-'}  {rest}".rstrip()
    return "".join(c if c.isprintable() else " " for c in text)


async def watch(ctx, args) -> int:
    out = ctx.out
    done: defer.Deferred = defer.Deferred()
    seen = [0]

    def on_notification(message: dict) -> None:
        if message.get("method") == "session_ended":
            return  # reported as the reason of the close
        if done.called:
            return
        received_at = _now(ctx.reactor)
        try:
            if out.json_mode:
                out.json_line({"received_at": received_at, "method": message.get("method"),
                               "params": message.get("params")})
            else:
                out.stdout.write(describe(message, received_at) + "\n")
                out.stdout.flush()
        except BrokenPipeError:  # `camctl watch | head`: the reader has had enough
            reader_gone(out.stdout)
            done.callback(None)
            return
        seen[0] += 1
        if args.count is not None and seen[0] >= args.count and not done.called:
            done.callback(None)

    client = await ctx.api(on_notification)

    def closed(why):
        if not done.called:
            done.callback(why)
        return why

    client.closed.addCallback(closed)
    params: dict = {"topics": sorted(set(args.topics or TOPICS))}
    if args.camera:
        params["filters"] = {"device": args.camera}
    result = await client.call("subscribe_events", params)
    only = f" about {args.camera}" if args.camera else ""
    out.note(f"# watching {', '.join(result.get('topics') or [])}{only}; Ctrl-C to stop")
    why = await done
    if isinstance(why, Closed):
        raise why
    return exits.OK
