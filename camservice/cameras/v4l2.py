"""What a V4L2 device can do, from ``v4l2-ctl`` output.

``v4l2-ctl --device=D --all`` gives the driver, card, bus and device
capabilities (a webcam's metadata node lacks "Video Capture"), the current
format and frame rate, and the controls; ``--list-formats-ext`` gives every
format with its sizes and frame intervals (discrete, stepwise or
continuous). The parsers are pure functions of that text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["Control", "Probe", "V4L2ParseError", "best_mode", "parse_all", "parse_formats", "parse_probe"]

#: resolutions offered for stepwise or continuous sizes
STANDARD_SIZES = ((3840, 2160), (2560, 1440), (1920, 1080), (1600, 1200), (1280, 1024), (1280, 720),
                  (1024, 768), (800, 600), (640, 480), (352, 288), (320, 240))
#: frame rates offered for stepwise or continuous intervals
STANDARD_FPS = (60, 50, 30, 25, 24, 20, 15, 10, 5, 1)
#: formats in the order camservice prefers to stream them
FORMAT_PREFERENCE = ("H264", "MJPG", "YUYV", "NV12", "YU12", "UYVY", "RGB3", "BGR3", "GREY")


class V4L2ParseError(ValueError):
    """The text is not v4l2-ctl output this parser understands."""


@dataclass(frozen=True)
class Control:
    """One V4L2 control.

    :ivar type: ``int``, ``int64``, ``bool``, ``menu``, ``intmenu``,
        ``button``, ``bitmask`` or ``string``.
    :ivar flags: e.g. ``("inactive",)`` or ``("read-only",)``.
    :ivar menu: value -> label for menus.
    """

    name: str
    type: str
    minimum: Optional[int] = None
    maximum: Optional[int] = None
    step: Optional[int] = None
    default: Optional[int] = None
    value: Optional[int] = None
    flags: tuple[str, ...] = ()
    menu: tuple[tuple[int, str], ...] = ()
    category: str = ""

    def as_dict(self) -> dict:
        d = {"name": self.name, "type": self.type, "min": self.minimum, "max": self.maximum,
             "step": self.step, "default": self.default, "value": self.value,
             "flags": list(self.flags), "category": self.category}
        if self.menu:
            d["menu"] = {str(k): v for k, v in self.menu}
        return d


@dataclass(frozen=True)
class Probe:
    """A device as probed.

    :ivar capture: the node can capture video (a webcam's metadata node
        cannot).
    :ivar modes: fourcc -> {"WxH": (fps, ...)} (fps descending).
    """

    driver: str
    card: str
    bus_info: str
    capture: bool
    modes: dict = field(default_factory=dict)
    current_format: Optional[str] = None
    current_resolution: Optional[str] = None
    current_fps: Optional[int] = None
    controls: tuple[Control, ...] = ()

    @property
    def formats(self) -> list[str]:
        return sorted(self.modes, key=_format_rank)

    @property
    def resolutions(self) -> list[str]:
        sizes = {size for per_format in self.modes.values() for size in per_format}
        return sorted(sizes, key=_size_key, reverse=True)

    @property
    def fps_options(self) -> list[int]:
        return sorted({f for per_format in self.modes.values() for fps in per_format.values() for f in fps},
                      reverse=True)


def _format_rank(fourcc: str) -> tuple:
    return (FORMAT_PREFERENCE.index(fourcc) if fourcc in FORMAT_PREFERENCE else len(FORMAT_PREFERENCE), fourcc)


def _size_key(size: str) -> tuple[int, int]:
    w, _, h = size.partition("x")
    return int(w), int(h)


_FIELD = re.compile(r"^\t(?P<key>[A-Za-z][A-Za-z /]*?)\s*: (?P<value>.*)$")
_CONTROL = re.compile(
    r"^\s*(?P<name>[a-z0-9_]+) 0x[0-9a-f]+ \((?P<type>[a-z0-9]+)\)\s*:(?P<rest>.*?)(?: flags=(?P<flags>.*))?$"
)
_MENU_ITEM = re.compile(r"^\t\t\t\t(?P<value>-?\d+): (?P<label>.*)$")
_KV = re.compile(r"(\w+)=(\S+)")


def parse_all(text: str) -> dict:
    """Parse ``v4l2-ctl --all``.

    :returns: ``{driver, card, bus_info, device_caps: [..], current_format,
        current_resolution, current_fps, controls: [Control]}``.
    :raises V4L2ParseError: no ``Driver Info`` section.
    """
    if "Driver Info" not in text:
        raise V4L2ParseError("no 'Driver Info' in v4l2-ctl --all output")
    out = {"driver": "", "card": "", "bus_info": "", "device_caps": [], "current_format": None,
           "current_resolution": None, "current_fps": None, "controls": []}
    section = None
    caps_block = None
    category = ""
    controls: list[dict] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            section = line.rstrip(":").strip()
            caps_block = None
            if section.endswith("Controls"):
                category = section
            continue
        if section == "Driver Info":
            m = _FIELD.match(line)
            if m:
                key, value = m.group("key").strip(), m.group("value").strip()
                caps_block = key if key in ("Capabilities", "Device Caps") else None
                if key == "Driver name":
                    out["driver"] = value
                elif key == "Card type":
                    out["card"] = value
                elif key == "Bus info":
                    out["bus_info"] = value
                continue
            if caps_block == "Device Caps" and line.startswith("\t\t"):
                out["device_caps"].append(line.strip())
            continue
        if section == "Format Video Capture":
            m = _FIELD.match(line)
            if m and m.group("key").strip() == "Width/Height":
                size = re.fullmatch(r"(\d+)/(\d+)", m.group("value").strip())
                out["current_resolution"] = f"{int(size.group(1))}x{int(size.group(2))}" if size else None
            elif m and m.group("key").strip() == "Pixel Format":
                fourcc = re.match(r"'(.{1,4})'", m.group("value").strip())
                out["current_format"] = fourcc.group(1).strip() if fourcc else None
            continue
        if section == "Streaming Parameters Video Capture":
            m = re.search(r"Frames per second:\s*(\d+(?:\.\d+)?)\b", line)
            if m:
                out["current_fps"] = int(round(float(m.group(1))))
            continue
        if section and section.endswith("Controls"):
            m = _CONTROL.match(line)
            if m:
                values = dict(_KV.findall(m.group("rest")))
                if m.group("flags"):
                    values["flags"] = m.group("flags")
                controls.append({"name": m.group("name"), "type": m.group("type"), "values": values,
                                 "menu": [], "category": category})
                continue
            item = _MENU_ITEM.match(line)
            if item and controls:
                controls[-1]["menu"].append((int(item.group("value")), item.group("label").strip()))
    out["controls"] = [_control(c) for c in controls]
    return out


def _int(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _control(raw: dict) -> Control:
    v = raw["values"]
    flags = tuple(f.strip() for f in v["flags"].split(",") if f.strip()) if "flags" in v else ()
    return Control(
        name=raw["name"], type=raw["type"], minimum=_int(v.get("min")), maximum=_int(v.get("max")),
        step=_int(v.get("step")), default=_int(v.get("default")), value=_int(v.get("value")),
        flags=flags, menu=tuple(raw["menu"]), category=raw["category"],
    )


_FORMAT_HEAD = re.compile(r"^\s*\[\d+\]: '(?P<fourcc>.{1,4})'")
_SIZE_DISCRETE = re.compile(r"^\s*Size: Discrete (?P<w>\d+)x(?P<h>\d+)")
_SIZE_RANGE = re.compile(
    r"^\s*Size: (?:Stepwise|Continuous) (?P<w0>\d+)x(?P<h0>\d+) - (?P<w1>\d+)x(?P<h1>\d+)(?: with step (?P<sw>\d+)/(?P<sh>\d+))?"
)
_NUMBER = r"\d+(?:\.\d+)?"
_FPS_DISCRETE = re.compile(rf"^\s*Interval: Discrete {_NUMBER}s \((?P<fps>{_NUMBER}) fps\)")
_FPS_RANGE = re.compile(rf"^\s*Interval: (?:Stepwise|Continuous) .*\((?P<lo>{_NUMBER})-(?P<hi>{_NUMBER}) fps\)")


def parse_formats(text: str) -> dict:
    """Parse ``v4l2-ctl --list-formats-ext``.

    :returns: fourcc -> {"WxH": (fps, ...)}; stepwise and continuous ranges
        become the standard sizes and frame rates inside them.
    :raises V4L2ParseError: not ``VIDIOC_ENUM_FMT`` output.
    """
    if "VIDIOC_ENUM_FMT" not in text:
        raise V4L2ParseError("no 'VIDIOC_ENUM_FMT' in v4l2-ctl --list-formats-ext output")
    modes: dict[str, dict[str, set]] = {}
    fourcc = None
    sizes: list[str] = []
    for line in text.splitlines():
        m = _FORMAT_HEAD.match(line)
        if m:
            fourcc = m.group("fourcc").strip()
            modes.setdefault(fourcc, {})
            sizes = []
            continue
        if fourcc is None:
            continue
        m = _SIZE_DISCRETE.match(line)
        if m:
            sizes = [f"{int(m.group('w'))}x{int(m.group('h'))}"]
            modes[fourcc].setdefault(sizes[0], set())
            continue
        m = _SIZE_RANGE.match(line)
        if m:
            w0, h0, w1, h1 = (int(m.group(k)) for k in ("w0", "h0", "w1", "h1"))
            sw, sh = int(m.group("sw") or 1), int(m.group("sh") or 1)
            sizes = [f"{w}x{h}" for w, h in STANDARD_SIZES
                     if w0 <= w <= w1 and h0 <= h <= h1 and (w - w0) % sw == 0 and (h - h0) % sh == 0]
            for size in sizes:
                modes[fourcc].setdefault(size, set())
            continue
        m = _FPS_DISCRETE.match(line)
        if m:
            for size in sizes:
                modes[fourcc][size].add(int(round(float(m.group("fps")))))
            continue
        m = _FPS_RANGE.match(line)
        if m:
            lo, hi = float(m.group("lo")), float(m.group("hi"))
            for size in sizes:
                modes[fourcc][size].update(f for f in STANDARD_FPS if lo <= f <= hi + 1e-6)
    return {
        f: {size: tuple(sorted(fps, reverse=True)) for size, fps in per_size.items()}
        for f, per_size in modes.items()
    }


def parse_probe(all_text: str, formats_text: str) -> Probe:
    """Both outputs of one device as a :class:`Probe`."""
    info = parse_all(all_text)
    capture = "Video Capture" in info["device_caps"]
    modes = parse_formats(formats_text) if capture else {}
    return Probe(
        driver=info["driver"], card=info["card"], bus_info=info["bus_info"], capture=capture, modes=modes,
        current_format=info["current_format"], current_resolution=info["current_resolution"],
        current_fps=info["current_fps"], controls=tuple(info["controls"]),
    )


def best_mode(probe: Probe, max_size: tuple[int, int] = (1920, 1080), min_fps: int = 15,
              max_fps: int = 30) -> Optional[tuple[str, str, int]]:
    """The ``(format, "WxH", fps)`` to stream: H264 (passed through) if
    offered, else MJPEG, else a raw format; the largest size up to
    ``max_size`` that reaches ``min_fps``, at the highest rate up to
    ``max_fps`` (the lowest offered rate when all are higher). When no
    size fits ``max_size``, the smallest size of the preferred format.
    ``None`` only if the device offers no mode at all."""
    for fourcc in probe.formats:
        per_size = probe.modes[fourcc]
        candidates = [s for s in per_size if _size_key(s)[0] <= max_size[0] and _size_key(s)[1] <= max_size[1]]
        if not candidates:
            continue
        fast = [s for s in candidates if per_size[s] and per_size[s][0] >= min_fps]
        size = max(fast or candidates, key=_size_key)
        return fourcc, size, _rate(per_size[size], max_fps)
    for fourcc in probe.formats:
        if probe.modes[fourcc]:
            size = min(probe.modes[fourcc], key=_size_key)
            return fourcc, size, _rate(probe.modes[fourcc][size], max_fps)
    return None


def _rate(rates: tuple[int, ...], max_fps: int) -> int:
    if not rates:
        return max_fps
    allowed = [f for f in rates if f <= max_fps]
    return max(allowed) if allowed else min(rates)
