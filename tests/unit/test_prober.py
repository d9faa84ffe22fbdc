"""The scheduler and the probers, against httpx.MockTransport and a small local TCP server."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from drillkit.measure import prober

GLOBAL = prober.ProbeTarget("global", "http://lb.test", "write_read")
READ = prober.ProbeTarget("global", "http://lb.test", "read")


def mock_client(answer) -> httpx.AsyncClient:
    """A client whose transport says, as a real connection does, when each request goes out."""

    async def handler(request: httpx.Request) -> httpx.Response:
        await request.extensions["trace"]("http11.send_request_headers.started", {})
        return await answer(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def ok(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        return httpx.Response(201, json={"id": 7})
    return httpx.Response(200, json={"items": []})


async def schedule(target, answer, seconds: float, *, interval: float = 0.05, during=None):
    """Run TARGET's schedule for SECONDS; return (rows, slots that raised)."""
    rows, failures = [], []
    stop = asyncio.Event()
    async with mock_client(answer) as http:
        async def send(intended: float) -> None:
            rows.extend(await prober.probe_once(http, target, intended, 2.0))

        def failed(intended: float, exc: BaseException) -> None:
            failures.append(intended)
            rows.extend(prober.instrument_rows(target, intended))

        loop = asyncio.get_running_loop()
        loop.call_later(seconds, stop.set)
        if during:
            loop.call_later(*during)
        await prober.on_schedule(interval, stop, send, failed)
    return rows, failures


def slots(rows) -> list[float]:
    return sorted({r.intended for r in rows if r.kind in ("write", "read")})


def test_a_one_second_stall_of_the_event_loop_shows_as_send_lag_not_as_failures():
    rows, _ = asyncio.run(schedule(READ, ok, 2.0, during=(0.5, time.sleep, 1.0)))
    lags = [r.sent - r.intended for r in rows]
    assert max(lags) > 1.0 - 0.06  # the slot due as the stall began left a second late
    assert sum(lag > 0.5 for lag in lags) >= 8  # every slot due during the stall carries its lateness
    assert all(r.error == "" and r.status == 200 for r in rows)


def test_every_scheduled_slot_yields_its_row_even_through_a_stall():
    rows, _ = asyncio.run(schedule(READ, ok, 2.0, during=(0.5, time.sleep, 1.0)))
    times = slots(rows)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) >= 39 and max(gaps) == pytest.approx(0.05, abs=1e-6)


def test_the_write_read_prober_yields_two_rows_per_slot():
    rows, _ = asyncio.run(schedule(GLOBAL, ok, 0.5))
    assert [r.kind for r in rows].count("write") == [r.kind for r in rows].count("read_back") == len(slots(rows))
    assert {r.prober for r in rows} == {"global/write_read"}


def test_a_failed_write_yields_a_read_back_that_was_not_sent_in_the_same_slot():
    async def unavailable(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    rows, _ = asyncio.run(schedule(GLOBAL, unavailable, 0.3))
    writes = [r for r in rows if r.kind == "write"]
    read_backs = [r for r in rows if r.kind == "read_back"]
    assert len(writes) == len(read_backs) >= 5
    assert all(w.error == "http" and w.status == 503 for w in writes)
    assert all(r.error == "not_sent" and r.sent is None and r.status == 0 for r in read_backs)
    # it speaks of its slot, not of when the write gave up: a timed-out write must not move recovery later
    assert [(r.intended, r.latency) for r in read_backs] == [(w.intended, w.latency) for w in writes]


def test_a_send_task_that_raises_is_recorded_as_the_instruments_failure():
    calls = 0

    async def sometimes_broken(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("a bug in the prober")  # not an httpx error: the send task raises
        return await ok(request)

    rows, failures = asyncio.run(schedule(READ, sometimes_broken, 0.5))
    assert len(failures) == 1
    broken = [r for r in rows if r.error == "instrument"]
    assert [r.intended for r in broken] == failures and broken[0].sent is None
    assert len(slots(rows)) == len(rows)  # the slot is still there, once


def test_a_raising_write_read_slot_still_yields_both_rows():
    rows = prober.instrument_rows(GLOBAL, 1.0)
    assert [(r.kind, r.error) for r in rows] == [("write", "instrument"), ("read_back", "instrument")]


def test_a_request_that_times_out_counts_the_timeout_from_its_slot():
    async def frozen(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    async def one() -> list:
        async with mock_client(frozen) as http:
            return await prober.probe_once(http, READ, time.monotonic(), 0.2)

    [row] = asyncio.run(one())
    assert (row.error, row.status, row.latency) == ("timeout", 0, 0.2)
    assert row.sent is not None


# -- real connections: a request waiting for a connection has not been sent ----------------------------


async def holding_server() -> tuple[asyncio.Server, str]:
    """A server that reads requests and never answers: a frozen app."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(30)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    return server, f"http://{host}:{port}"


async def two_requests(http: httpx.AsyncClient, base_url: str) -> list:
    target = prober.ProbeTarget("local", base_url, "read")
    now = time.monotonic()
    return await asyncio.gather(*(prober.probe_once(http, target, now, 0.5) for _ in range(2)))


def test_a_request_waiting_for_a_pooled_connection_is_not_sent():
    async def run() -> list:
        server, url = await holding_server()
        async with server, httpx.AsyncClient(limits=httpx.Limits(max_connections=1)) as http:
            return await two_requests(http, url)

    first, second = (rows[0] for rows in asyncio.run(run()))
    assert {first.error, second.error} == {"timeout"}
    assert sorted([first.sent is None, second.sent is None]) == [False, True]


def test_the_probers_client_never_makes_a_request_wait_for_a_connection():
    async def run() -> list:
        server, url = await holding_server()
        async with server, prober.client(2.0) as http:
            return await two_requests(http, url)

    rows = [rows[0] for rows in asyncio.run(run())]
    assert all(r.sent is not None and r.sent - r.intended < 0.1 for r in rows)


def test_the_probers_ask_the_targets_paths_with_its_headers_and_bearer_token():
    asks = prober.Requests(write="/v2/notes", write_body={"text": "x"}, read_back="/v2/notes/{id}?full=1",
                           headers={"x-tenant": "drill"}).with_token("tok-5e6f7a8b")
    seen = []

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.raw_path.decode(), request.headers.get("x-tenant"),
                     request.headers.get("authorization")))
        return httpx.Response(201, json={"id": 42}) if request.method == "POST" else httpx.Response(200)

    async def run():
        async with mock_client(answer) as http:
            return await prober.probe_once(http, GLOBAL, time.monotonic(), 2.0, asks)

    rows = asyncio.run(run())
    assert [r.kind for r in rows] == ["write", "read_back"] and all(r.error == "" for r in rows)
    assert seen == [("POST", "/v2/notes", "drill", "Bearer tok-5e6f7a8b"),
                    ("GET", "/v2/notes/42?full=1", "drill", "Bearer tok-5e6f7a8b")]


def test_without_a_write_path_the_users_path_is_a_read():
    seen = []

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.raw_path.decode()))
        return httpx.Response(200)

    async def run():
        async with mock_client(answer) as http:
            return await prober.probe_once(http, GLOBAL, time.monotonic(), 2.0, prober.Requests(write=None, read="/ok"))

    rows = asyncio.run(run())
    assert [(r.prober, r.kind, r.error) for r in rows] == [("global/write_read", "read", "")]
    assert seen == [("GET", "/ok")]


def test_a_raising_slot_of_a_user_path_without_writes_yields_the_one_read_its_slot_would_have():
    rows = prober.instrument_rows(GLOBAL, 1.0, prober.Requests(write=None))
    assert [(r.prober, r.kind, r.error) for r in rows] == [("global/write_read", "read", "instrument")]
