"""``snapshot``, ``record``, ``stop``, ``files``, ``download`` and
``delete``: making media and moving it off the server."""
from __future__ import annotations

from pathlib import Path

from camservice.cli import exits
from camservice.cli.download import KINDS, download as fetch, file_path, kind_of
from camservice.cli.exits import CliError
from camservice.cli.output import human_size

__all__ = ["delete", "download", "files", "record", "snapshot", "stop"]


def _dest(output, name: str) -> Path:
    dest = Path(output) if output else Path(name)
    if dest.is_dir():
        dest = dest / name
    return dest


async def snapshot(ctx, args) -> int:
    params = {"device": args.camera}
    if args.name:
        params["filename"] = args.name
    dest = _dest(args.output, args.name or "snapshot.jpg")
    if args.output and dest.exists() and not args.force:  # before a file is made on the server
        raise CliError(f"{dest} exists; remove it or use --force", exits.FAILED)
    result = await ctx.call("take_snapshot", params)
    dest = _dest(args.output, result["filename"])
    path = result.get("file_path") or file_path("snapshots", result["filename"])
    saved = await fetch(ctx.reactor, ctx.target, path, dest, ctx.out.stderr, force=args.force)
    document = dict(result)
    document["saved_to"] = saved["path"]
    ctx.out.document(document)
    ctx.out.line(f"{result['filename']} ({human_size(result.get('file_size'))}, {result.get('timestamp')}) "
                 f"saved to {saved['path']}")
    return exits.OK


async def record(ctx, args) -> int:
    params = {"device": args.camera}
    if args.duration is not None:
        params["duration"] = args.duration
    if args.format:
        params["format"] = args.format
    result = await ctx.call("start_recording", params)
    ctx.out.document(result)
    until = f" for {args.duration} s" if args.duration else " until camctl stop " + args.camera
    ctx.out.line(f"{args.camera} recording to {result.get('filename')} ({result.get('format')}){until}")
    return exits.OK


async def stop(ctx, args) -> int:
    result = await ctx.call("stop_recording", {"device": args.camera})
    ctx.out.document(result)
    ctx.out.line(f"{args.camera} stopped: {result.get('filename')} ({human_size(result.get('file_size'))}, "
                 f"{result.get('duration')} s)")
    return exits.OK


async def _list(ctx, kind: str, limit: int, offset: int, every: bool) -> dict:
    method = "list_recordings" if kind == "recordings" else "list_snapshots"
    result = await ctx.call(method, {"limit": limit, "offset": offset})
    if every:
        files = list(result.get("files") or [])
        while len(files) + offset < result.get("total", 0) and result.get("files"):
            page = await ctx.call(method, {"limit": 1000, "offset": offset + len(files)})
            if not page.get("files"):
                break
            files += page["files"]
            result = dict(page, files=files)
        result = dict(result, files=files, offset=offset, limit=len(files))
    return result


async def files(ctx, args) -> int:
    kinds = [args.kind] if args.kind else list(KINDS)
    listed = {kind: await _list(ctx, kind, 1000 if args.all else args.limit, args.offset, args.all) for kind in kinds}
    ctx.out.document(listed[args.kind] if args.kind else listed)
    rows = []
    for kind in kinds:
        for f in listed[kind].get("files") or []:
            rows.append((kind[:-1], f.get("filename"), human_size(f.get("file_size")), f.get("modified_time")))
    ctx.out.table(("KIND", "NAME", "SIZE", "MODIFIED"), rows, empty="no files")
    shown = ", ".join(f"{len(listed[k].get('files') or [])} of {listed[k].get('total', 0)} {k}" for k in kinds)
    ctx.out.note(f"# {shown}")
    return exits.OK


async def download(ctx, args) -> int:
    kind = kind_of(args.name, args.kind)
    dest = _dest(args.output, args.name)
    saved = await fetch(ctx.reactor, ctx.target, file_path(kind, args.name), dest, ctx.out.stderr, force=args.force)
    document = {"filename": args.name, "kind": kind, **saved}
    ctx.out.document(document)
    resumed = f", resumed at byte {saved['resumed_from']}" if saved["resumed_from"] else ""
    ctx.out.line(f"{args.name} ({human_size(saved['bytes'])}{resumed}) saved to {saved['path']}")
    return exits.OK


async def delete(ctx, args) -> int:
    kind = kind_of(args.name, args.kind)
    method = "delete_recording" if kind == "recordings" else "delete_snapshot"
    result = await ctx.call(method, {"filename": args.name})
    ctx.out.document(result)
    ctx.out.line(result.get("message") or f"{args.name} deleted")
    return exits.OK
