"""The instrument's HTTP/1.1 client: one fresh connection per request, on raw asyncio streams.

A probe is what a user's browser does on a new visit: connect, send one request, read one answer. The
general-purpose clients spend most of their CPU on what a probe never needs (pools, cookies, proxies,
redirects, per-request locks): httpx cost about 0.9 ms of CPU per request on this project's machine, a
bare request 0.23 ms (bench/prober_capacity.py). Here a request is a connect, one write and a parse of
the answer's head and body (Content-Length, chunked, or until the server closes).

`sent` is when the request left the instrument: the moment its connection started to connect. No proxy
is honoured: the instrument measures the platform's own path. Callers bound every request with
asyncio.timeout; a request never waits inside this client for anything but the network.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024


class ConnectError(OSError):
    """The connection could not be opened: refused, unreachable, reset during the handshake."""


class ProtocolError(OSError):
    """The connection broke or the server's answer was not HTTP/1.x."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)


@dataclass(frozen=True)
class _Origin:
    host: str
    port: int
    tls: bool
    path: str
    authority: str


class SendClock:
    """When the request left the instrument: set as its connection starts to connect."""

    def __init__(self) -> None:
        self.sent: float | None = None


_TLS: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _TLS
    if _TLS is None:  # built once: loading the trust store costs milliseconds
        _TLS = ssl.create_default_context()
    return _TLS


def _origin(url: str) -> _Origin:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Origin(parts.hostname, port, tls, path, parts.netloc.rpartition("@")[2])


def _request_bytes(method: str, origin: _Origin, body: bytes | None, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {origin.path} HTTP/1.1", f"host: {origin.authority}", "connection: close",
             "accept: */*", "user-agent: drillkit-probe"]
    if body is not None:
        lines += ["content-type: application/json", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


async def request(method: str, url: str, *, json: object = None, headers: dict[str, str] | None = None,
                  clock: SendClock | None = None) -> Response:
    """METHOD URL on a connection of its own, with JSON as its body; the answer, whatever its status."""
    origin = _origin(url)
    body = None if json is None else jsonlib.dumps(json, separators=(",", ":")).encode()
    payload = _request_bytes(method, origin, body, headers or {})
    if clock is not None:
        clock.sent = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(
            origin.host, origin.port, ssl=_tls_context() if origin.tls else None,
            server_hostname=origin.host if origin.tls else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectError(f"{origin.host}:{origin.port}: {exc}") from exc
    try:
        writer.write(payload)
        return await _read_response(reader, method)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError) as exc:
        raise ProtocolError(f"{origin.host}:{origin.port}: {exc or type(exc).__name__}") from exc
    finally:
        writer.transport.abort()  # one request per connection: nothing to wait for in a graceful close


async def _read_response(reader: asyncio.StreamReader, method: str) -> Response:
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        status, fields = _parse_head(head)
        if status >= 200 or status == 101:  # 1xx answers (100 Continue) precede the real one
            break
    if method == "HEAD" or status in (204, 304):
        return Response(status, b"")
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return Response(status, await _read_chunked(reader))
    if "content-length" in fields:
        return Response(status, await reader.readexactly(int(fields["content-length"])))
    return Response(status, await reader.read())  # framed by the server closing the connection


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    if len(head) > MAX_HEAD_BYTES:
        raise ValueError("answer head too large")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    fields: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return int(rest[:3]), fields


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, unused, up to the blank line
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
