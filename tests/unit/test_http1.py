"""The instrument's HTTP/1.1 client against a real server on 127.0.0.1: every framing an answer may use."""

from __future__ import annotations

import asyncio
import time

import pytest

from drillkit.measure import http1
from tests.unit.local_http import Asked, serving


def ask(raw: bytes, method: str = "GET", path: str = "/x?y=1", **kwargs) -> tuple[http1.Response, list[Asked]]:
    seen: list[Asked] = []

    async def answer(asked: Asked) -> bytes:
        seen.append(asked)
        return raw

    async def run() -> http1.Response:
        async with serving(answer) as url:
            return await http1.request(method, url + path, **kwargs)

    return asyncio.run(run()), seen


@pytest.mark.parametrize(("raw", "body"), [
    (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", b"hello"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
     b"3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nx-t: 1\r\n\r\n", b"hello"),
    (b"HTTP/1.0 200 OK\r\n\r\nhello", b"hello"),  # framed by the close
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", b"hello"),
    (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
])
def test_each_framing_of_an_answer_gives_its_status_and_body(raw, body):
    response, _ = ask(raw)
    assert (response.status // 100, response.body) == (2, body)


def test_the_request_carries_its_method_path_headers_and_json_body_and_asks_to_close():
    response, [asked] = ask(b"HTTP/1.1 201 Created\r\ncontent-length: 8\r\n\r\n{\"id\":7}", "POST", "/items?a=b",
                            json={"title": "t"}, headers={"authorization": "Bearer t0k"})
    assert response.json() == {"id": 7}
    assert (asked.method, asked.path, asked.body) == ("POST", "/items?a=b", b'{"title":"t"}')
    assert asked.headers["connection"] == "close" and asked.headers["authorization"] == "Bearer t0k"
    assert asked.headers["content-type"] == "application/json" and asked.headers["host"].startswith("127.0.0.1:")


def test_the_send_clock_is_set_as_the_connection_starts():
    clock = http1.SendClock()
    before = time.monotonic()
    ask(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", clock=clock)
    assert clock.sent is not None and before <= clock.sent <= time.monotonic()


@pytest.mark.parametrize("raw", [b"", b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort", b"220 smtp ready\r\n\r\n"])
def test_a_broken_or_foreign_answer_is_a_protocol_error(raw):
    with pytest.raises(http1.ProtocolError):
        ask(raw)


def test_a_closed_port_is_a_connect_error():
    async def run() -> None:
        async with serving(lambda asked: None) as url:  # type: ignore[arg-type]
            pass
        await http1.request("GET", url + "/")

    with pytest.raises(http1.ConnectError):
        asyncio.run(run())


def test_a_url_that_is_not_http_is_refused_before_any_connection():
    with pytest.raises(ValueError, match="not an http"):
        asyncio.run(http1.request("GET", "ftp://127.0.0.1/"))
