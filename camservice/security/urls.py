"""Stream URL syntax: what camservice accepts before it hands a URL to
MediaMTX or ffprobe.

A URL that MediaMTX later refuses (a newline, a bad escape) breaks the
reconciliation of every path after it, so the rules are checked here,
once, with a reason naming the rule broken.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from camservice.security.errors import BadStreamURL

__all__ = ["DEFAULT_PORTS", "MAX_URL_LENGTH", "SCHEMES", "StreamURL", "parse_stream_url"]

MAX_URL_LENGTH = 2048
#: the schemes camservice can pull, with the port each uses by default
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "srt": None, "http": 80, "https": 443}
SCHEMES = tuple(DEFAULT_PORTS)

_PRINTABLE = re.compile(r"[\x21-\x7e]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


@dataclass(frozen=True)
class StreamURL:
    """A parsed stream URL.

    :ivar host: the host name or address, without brackets, lower case.
    :ivar port: the port given, or the scheme's default.
    :ivar address: the host as an IP address, if it is one.
    """

    url: str
    scheme: str
    host: str
    port: int
    has_credentials: bool
    address: Optional[ipaddress.IPv4Address | ipaddress.IPv6Address]


def _refuse(rule: str, hint: str) -> BadStreamURL:
    return BadStreamURL(rule, hint)


def parse_stream_url(url: str) -> StreamURL:
    """Check ``url`` against the stream URL rules.

    :raises BadStreamURL: naming the first rule broken.
    """
    if not isinstance(url, str):
        raise _refuse("must be a string", "give the stream URL as a string")
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"must be at most {MAX_URL_LENGTH} characters long", "use a shorter URL")
    if _PRINTABLE.fullmatch(url) is None:
        raise _refuse(
            "must not contain whitespace, control or non-ASCII characters",
            "percent-encode such characters (%20 for a space) and remove line breaks",
        )
    if _BAD_ESCAPE.search(url):
        raise _refuse(
            "has an invalid percent escape (a % must be followed by two hex digits)",
            "write a literal % as %25",
        )
    scheme, sep, _rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS:
        raise _refuse("must use one of the schemes " + ", ".join(SCHEMES), "e.g. rtsp://192.0.2.10:554/stream1")
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        raise _refuse("has an invalid host", "write an IPv6 address in brackets: rtsp://[2001:db8::1]:554/")
    credentials = "@" in netloc
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        inner, bracket, after = hostport[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise _refuse("has an invalid host", "write an IPv6 address in brackets: rtsp://[2001:db8::1]:554/")
        host, port_text = inner, after[1:] if after else None
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            raise _refuse("has an invalid host", "write an IPv6 address in brackets: rtsp://[2001:db8::1]:554/")
    else:
        host, colon, port_text = hostport.partition(":")
        if not colon:
            port_text = None
        address = _ipv4(host)
        if address is None and not _valid_name(host):
            raise _refuse("must name a host", "e.g. rtsp://camera.example:554/stream1")
    port = _port(port_text)
    if port is None:
        port = DEFAULT_PORTS[scheme]
        if port is None:
            raise _refuse(f"must give a port for {scheme}", f"e.g. {scheme}://192.0.2.10:8890")
    return StreamURL(url, scheme, host.lower(), port, credentials, address)


def _ipv4(host: str):
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        return None


def _valid_name(host: str) -> bool:
    if not host or len(host) > 253:
        return False
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    # all-numeric names (e.g. "127.1") are addresses in disguise
    if all(label.isdigit() for label in labels):
        return False
    return all(_LABEL.fullmatch(label) for label in labels)


def _port(text: Optional[str]) -> Optional[int]:
    if text is None or text == "":
        if text == "":
            raise _refuse("has an empty port", "give the port after the colon, or leave both out")
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise _refuse("must have a port from 1 to 65535", "e.g. rtsp://192.0.2.10:554/stream1")
    return int(text)
