"""The scheduler and the probers, against a real HTTP server on 127.0.0.1 (tests/unit/local_http.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from drillkit.measure import prober
from tests.unit.local_http import Asked, serving


def user_path(base_url: str) -> prober.ProbeTarget:
    return prober.ProbeTarget("global", base_url, "write_read")


def read_path(base_url: str) -> prober.ProbeTarget:
    return prober.ProbeTarget("global", base_url, "read")


async def ok(asked: Asked) -> tuple[int, object]:
    return (201, {"id": 7}) if asked.method == "POST" else (200, {"items": []})


async def schedule(make_target, answer, seconds: float, *, interval: float = 0.05, during=None):
    """Run a target's schedule (MAKE_TARGET(base_url)) for SECONDS; return (rows, slots that raised)."""
    rows, failures = [], []
    stop = asyncio.Event()
    async with serving(answer) as url:
        target = make_target(url)

        async def send(intended: float) -> None:
            rows.extend(await prober.probe_once(target, intended, 2.0))

        def failed(intended: float, exc: BaseException) -> None:
            failures.append(intended)
            rows.extend(prober.instrument_rows(target, intended))

        loop = asyncio.get_running_loop()
        loop.call_later(seconds, stop.set)
        if during:
            loop.call_later(*during)
        await prober.on_schedule(interval, stop, send, failed)
    return rows, failures


async def once(answer, target=read_path, timeout: float = 2.0, asks: prober.Requests | None = None) -> list:
    async with serving(answer) as url:
        return await prober.probe_once(target(url), time.monotonic(), timeout, asks)


def slots(rows) -> list[float]:
    return sorted({r.intended for r in rows if r.kind in ("write", "read")})


def test_a_one_second_stall_of_the_event_loop_shows_as_send_lag_not_as_failures():
    rows, _ = asyncio.run(schedule(read_path, ok, 2.0, during=(0.5, time.sleep, 1.0)))
    lags = [r.sent - r.intended for r in rows]
    assert max(lags) > 1.0 - 0.06  # the slot due as the stall began left a second late
    assert sum(lag > 0.5 for lag in lags) >= 8  # every slot due during the stall carries its lateness
    assert all(r.error == "" and r.status == 200 for r in rows)


def test_every_scheduled_slot_yields_its_row_even_through_a_stall():
    rows, _ = asyncio.run(schedule(read_path, ok, 2.0, during=(0.5, time.sleep, 1.0)))
    times = slots(rows)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) >= 39 and max(gaps) == pytest.approx(0.05, abs=1e-6)


def test_the_write_read_prober_yields_two_rows_per_slot():
    rows, _ = asyncio.run(schedule(user_path, ok, 0.5))
    assert [r.kind for r in rows].count("write") == [r.kind for r in rows].count("read_back") == len(slots(rows))
    assert all(r.error == "" for r in rows) and {r.prober for r in rows} == {"global/write_read"}


def test_a_failed_write_yields_a_read_back_that_was_not_sent_in_the_same_slot():
    async def unavailable(asked: Asked) -> tuple[int, object]:
        return 503, None

    rows, _ = asyncio.run(schedule(user_path, unavailable, 0.3))
    writes = [r for r in rows if r.kind == "write"]
    read_backs = [r for r in rows if r.kind == "read_back"]
    assert len(writes) == len(read_backs) >= 5
    assert all(w.error == "http" and w.status == 503 for w in writes)
    assert all(r.error == "not_sent" and r.sent is None and r.status == 0 for r in read_backs)
    # it speaks of its slot, not of when the write gave up: a timed-out write must not move recovery later
    assert [(r.intended, r.latency) for r in read_backs] == [(w.intended, w.latency) for w in writes]


def test_a_send_task_that_raises_is_recorded_as_the_instruments_failure(monkeypatch):
    calls = 0
    real = prober._timed

    async def sometimes_broken(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("a bug in the prober")  # not a network error: the send task raises
        return await real(*args, **kwargs)

    monkeypatch.setattr(prober, "_timed", sometimes_broken)
    rows, failures = asyncio.run(schedule(read_path, ok, 0.5))
    assert len(failures) == 1
    broken = [r for r in rows if r.error == "instrument"]
    assert [r.intended for r in broken] == failures and broken[0].sent is None
    assert len(slots(rows)) == len(rows)  # the slot is still there, once


def test_a_raising_write_read_slot_still_yields_both_rows():
    rows = prober.instrument_rows(user_path("http://lb.test"), 1.0)
    assert [(r.kind, r.error) for r in rows] == [("write", "instrument"), ("read_back", "instrument")]


async def frozen(asked: Asked) -> bytes:
    await asyncio.sleep(10)
    raise AssertionError("unreachable")


def test_a_request_that_times_out_counts_the_timeout_from_its_slot():
    [row] = asyncio.run(once(frozen, timeout=0.2))
    assert (row.error, row.status, row.latency) == ("timeout", 0, 0.2)
    assert row.sent is not None


def test_a_refused_connection_and_a_broken_answer_say_which_they_were():
    async def refused() -> list:
        async with serving(ok) as url:
            pass  # the server is gone: its port refuses
        return await prober.probe_once(read_path(url), time.monotonic(), 2.0)

    async def garbage(asked: Asked) -> bytes:
        return b"SSH-2.0-OpenSSH_9.2\r\n\r\n"

    [gone] = asyncio.run(refused())
    [broken] = asyncio.run(once(garbage))
    assert (gone.error, gone.status) == ("connect", 0) and gone.sent is not None
    assert (broken.error, broken.status) == ("other", 0)


def test_a_created_item_whose_answer_is_not_json_fails_the_write_and_leaves_its_read_back_unsent():
    async def not_json(asked: Asked) -> bytes:
        return b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok"

    write, read_back = asyncio.run(once(not_json, user_path))
    assert (write.status, write.error) == (201, "other") and read_back.error == "not_sent"


# -- real connections: a request waiting for a connection has not been sent ----------------------------


def test_concurrent_requests_never_wait_for_each_others_connection():
    async def run() -> list:
        async with serving(frozen) as url:
            now = time.monotonic()
            return await asyncio.gather(*(prober.probe_once(read_path(url), now, 0.5) for _ in range(5)))

    rows = [rows[0] for rows in asyncio.run(run())]
    assert all(r.error == "timeout" and r.sent is not None and r.sent - r.intended < 0.1 for r in rows)


def test_the_probers_ask_the_targets_paths_with_its_headers_and_bearer_token():
    asks = prober.Requests(write="/v2/notes", write_body={"text": "x"}, read_back="/v2/notes/{id}?full=1",
                           headers={"x-tenant": "drill"}).with_token("tok-5e6f7a8b")
    seen = []

    async def answer(asked: Asked) -> tuple[int, object]:
        seen.append((asked.method, asked.path, asked.headers.get("x-tenant"), asked.headers.get("authorization"),
                     asked.body))
        return (201, {"id": 42}) if asked.method == "POST" else (200, None)

    rows = asyncio.run(once(answer, user_path, asks=asks))
    assert [r.kind for r in rows] == ["write", "read_back"] and all(r.error == "" for r in rows)
    assert seen == [("POST", "/v2/notes", "drill", "Bearer tok-5e6f7a8b", b'{"text":"x"}'),
                    ("GET", "/v2/notes/42?full=1", "drill", "Bearer tok-5e6f7a8b", b"")]


def test_without_a_write_path_the_users_path_is_a_read():
    seen = []

    async def answer(asked: Asked) -> tuple[int, object]:
        seen.append((asked.method, asked.path))
        return 200, None

    rows = asyncio.run(once(answer, user_path, asks=prober.Requests(write=None, read="/ok")))
    assert [(r.prober, r.kind, r.error) for r in rows] == [("global/write_read", "read", "")]
    assert seen == [("GET", "/ok")]


def test_a_raising_slot_of_a_user_path_without_writes_yields_the_one_read_its_slot_would_have():
    rows = prober.instrument_rows(user_path("http://lb.test"), 1.0, prober.Requests(write=None))
    assert [(r.prober, r.kind, r.error) for r in rows] == [("global/write_read", "read", "instrument")]
