"""Ledger writes: acknowledged only by a 200/201, otherwise indeterminate with the reason noted."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from drillkit.measure import writers
from drillkit.measure.raw import WRITE_COLUMNS, sample_of, sample_row, write_of, write_row


def write_with(answer, timeout: float = 1.0):
    async def handler(request: httpx.Request) -> httpx.Response:
        await request.extensions["trace"]("http11.send_request_headers.started", {})
        return await answer(request)

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            return await writers.write_once(http, "http://lb.test", "w0", 3, time.monotonic(), timeout)

    return asyncio.run(run())


async def created(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"ok": True})


async def unavailable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


async def frozen(request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(10)
    raise AssertionError("unreachable")


async def reset(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)


def test_a_write_answered_201_is_acknowledged_when_the_answer_came():
    write = write_with(created)
    assert write.acked_at is not None and write.sent is not None and write.note == ""
    assert write.intended <= write.sent <= write.acked_at


@pytest.mark.parametrize(("answer", "note"), [(unavailable, "http 503"), (frozen, "timeout"), (reset, "reset")])
def test_a_write_without_an_acknowledgement_is_indeterminate_and_says_why(answer, note):
    write = write_with(answer, timeout=0.2)
    assert (write.acked_at, write.note) == (None, note)


def test_a_write_whose_task_died_is_indeterminate_never_lost():
    write = writers.died("w0", 9, 12.5)
    assert (write.seq, write.acked_at, write.note) == (9, None, "task died")


def test_rows_survive_the_csv_round_trip_with_their_empty_cells():
    write = writers.died("w0", 9, 12.5)
    assert write_of([str(c) for c in write_row(write)]) == write
    assert len(write_row(write)) == len(WRITE_COLUMNS)
    row = ["global/write_read", "global", "read_back", "1.5", "", "0.0", "0", "not_sent"]
    assert [str(c) for c in sample_row(sample_of(row))] == row


def test_the_http_ledger_posts_to_the_targets_path_with_its_headers_and_reads_back_from_there():
    seen = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers.get("authorization")))
        return httpx.Response(201) if request.method == "POST" else httpx.Response(200, json={"seqs": [3, 1]})

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            headers = {"authorization": "Bearer tok-1a2b3c"}
            done = await writers.write_once(http, "http://lb.test", "w0", 3, time.monotonic(), 1.0, "/rpo", headers)
            return done, await writers.read_back(http, "http://lb.test", ["w0"], 1.0, "/rpo", headers)

    done, stored = asyncio.run(run())
    assert done.acknowledged and stored == {"w0": [1, 3]}
    assert seen == [("POST", "/rpo", "Bearer tok-1a2b3c"), ("GET", "/rpo/w0", "Bearer tok-1a2b3c")]
