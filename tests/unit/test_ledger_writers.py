"""Ledger writes: acknowledged only by a 200/201, otherwise indeterminate with the reason noted."""

from __future__ import annotations

import asyncio
import time

import pytest

from drillkit.measure import writers
from drillkit.measure.raw import WRITE_COLUMNS, sample_of, sample_row, write_of, write_row
from tests.unit.local_http import Asked, serving


def write_with(answer, timeout: float = 1.0):
    async def run():
        async with serving(answer) as url:
            return await writers.write_once(url, "w0", 3, time.monotonic(), timeout)

    return asyncio.run(run())


async def created(asked: Asked) -> tuple[int, object]:
    return 201, {"ok": True}


async def unavailable(asked: Asked) -> tuple[int, object]:
    return 503, None


async def frozen(asked: Asked) -> bytes:
    await asyncio.sleep(10)
    raise AssertionError("unreachable")


async def reset(asked: Asked) -> bytes:
    return b""  # the connection closes without an answer


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

    async def answer(asked: Asked) -> tuple[int, object]:
        seen.append((asked.method, asked.path, asked.headers.get("authorization")))
        return (201, None) if asked.method == "POST" else (200, {"seqs": [3, 1]})

    async def run():
        async with serving(answer) as url:
            headers = {"authorization": "Bearer tok-1a2b3c"}
            done = await writers.write_once(url, "w0", 3, time.monotonic(), 1.0, "/rpo", headers)
            return done, await writers.read_back(url, ["w0"], 1.0, "/rpo", headers)

    done, stored = asyncio.run(run())
    assert done.acknowledged and stored == {"w0": [1, 3]}
    assert seen == [("POST", "/rpo", "Bearer tok-1a2b3c"), ("GET", "/rpo/w0", "Bearer tok-1a2b3c")]


def test_a_refused_write_is_indeterminate_and_says_connect():
    async def run():
        async with serving(created) as url:
            pass
        return await writers.write_once(url, "w0", 3, time.monotonic(), 1.0)

    write = asyncio.run(run())
    assert (write.acked_at, write.note) == (None, "connect")
