"""``cameras``, ``status`` and ``stream-url``: what the cameras are and
how to play them."""
from __future__ import annotations

from camservice.cli import exits
from camservice.cli.exits import CliError
from camservice.cli.output import human_size

__all__ = ["cameras", "status", "stream_url"]

CAMERA_HEADERS = ("CAMERA", "STATUS", "NAME", "RESOLUTION", "FPS")


def camera_rows(cameras: list) -> list:
    return [(c.get("device"), c.get("status"), c.get("name"), c.get("resolution"), c.get("fps")) for c in cameras]


async def cameras(ctx, args) -> int:
    result = await ctx.call("get_camera_list")
    ctx.out.document(result)
    cams = result.get("cameras") or []
    ctx.out.table(CAMERA_HEADERS, camera_rows(cams), empty="no cameras")
    if cams:
        ctx.out.line(f"{result.get('total', len(cams))} camera(s), {result.get('connected', 0)} connected")
    return exits.OK


async def status(ctx, args) -> int:
    if args.camera is None:
        result = await ctx.call("get_system_status")
        ctx.out.document(result)
        resources = result.get("resources") or {}
        ctx.out.fields([
            ("status", result.get("status")),
            ("message", result.get("message")),
            ("cameras", result.get("available_cameras")),
            ("discovery", "active" if result.get("discovery_active") else "inactive"),
        ] + ([("cpu", f"{resources.get('cpu_usage')}%"), ("memory", human_size(resources.get("memory_bytes")))]
             if resources else []))
        return exits.OK
    result = await ctx.call("get_camera_status", {"device": args.camera})
    ctx.out.document(result)
    metrics = result.get("metrics") or {}
    caps = result.get("capabilities") or {}
    streams = result.get("streams") or {}
    ctx.out.fields([
        ("camera", result.get("device")),
        ("status", result.get("status")),
        ("name", result.get("name")),
        ("resolution", result.get("resolution")),
        ("fps", result.get("fps")),
        ("readers", metrics.get("readers")),
        ("sent", human_size(metrics.get("bytes_sent"))),
        ("uptime", f"{metrics['uptime']} s" if isinstance(metrics.get("uptime"), int) else None),
        ("formats", caps.get("formats")),
        ("resolutions", caps.get("resolutions")),
    ] + [(proto, streams.get(proto)) for proto in ("rtsp", "hls", "webrtc") if proto in streams])
    return exits.OK


async def stream_url(ctx, args) -> int:
    camera = await ctx.call("get_camera_status", {"device": args.camera})
    stream = await ctx.call("get_stream_url", {"device": args.camera})
    streams = camera.get("streams") or {}
    if args.protocol:
        url = streams.get(args.protocol)
        if not url:
            raise CliError(f"{args.camera} has no {args.protocol} URL (not among the server's protocols)",
                           exits.UNSUPPORTED)
        ctx.out.document({"device": args.camera, "protocol": args.protocol, "url": url})
        ctx.out.line(url)
        return exits.OK
    document = dict(stream)
    document["streams"] = streams
    ctx.out.document(document)
    ctx.out.table(("PROTOCOL", "URL"), [(p, streams.get(p)) for p in ("rtsp", "hls", "webrtc") if p in streams])
    state = "available" if stream.get("available") else "not publishing now (starts on demand)"
    ctx.out.note(f"# {args.camera}: {stream.get('stream_status')}, {state}, "
                 f"{stream.get('active_consumers', 0)} reader(s)")
    return exits.OK
