"""A real HTTP/1.1 server on 127.0.0.1 for the instrument's client: each connection carries one request,
answered by a coroutine the test gives, then closed (the probers ask for `connection: close`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Asked:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


# An answer: (status, a JSON value or None), or raw bytes written as they are.
Answer = Callable[[Asked], Awaitable["tuple[int, object] | bytes"]]
REASONS = {200: "OK", 201: "Created", 503: "Service Unavailable"}


async def _read_request(reader: asyncio.StreamReader) -> Asked:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *lines = head.rstrip("\r\n").split("\r\n")
    method, path, _ = request_line.split(" ")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Asked(method, path, headers, body)


def encoded(status: int, value: object) -> bytes:
    body = b"" if value is None else json.dumps(value).encode()
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\ncontent-length: {len(body)}\r\n"
    return (head + ("content-type: application/json\r\n" if body else "") + "connection: close\r\n\r\n").encode() + body


@asynccontextmanager
async def serving(answer: Answer) -> AsyncIterator[str]:
    """The server's base URL while the block runs; ANSWER decides each answer."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            reply = await answer(await _read_request(reader))
            writer.write(reply if isinstance(reply, bytes) else encoded(*reply))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    async with server:
        yield f"http://{host}:{port}"
