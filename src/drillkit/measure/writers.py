"""Ledger writers: sequenced writes through the global endpoint at a fixed rate, and their read-back."""

from __future__ import annotations

import asyncio
import time

import httpx

from drillkit.measure.ledger import Write
from drillkit.measure.samples import CsvLog

ACKNOWLEDGED = (200, 201)  # the app answers only after COMMIT


async def write_once(
    client: httpx.AsyncClient, base_url: str, writer: str, seq: int, intended: float, timeout: float
) -> Write:
    acked_at = None
    try:
        async with asyncio.timeout(timeout):
            response = await client.post(f"{base_url}/api/ledger", json={"writer": writer, "seq": seq})
        if response.status_code in ACKNOWLEDGED:
            acked_at = time.monotonic()
    except (TimeoutError, httpx.HTTPError):
        pass  # indeterminate: it may have committed
    return Write(writer, seq, intended, acked_at)


def log_write(log: CsvLog, write: Write) -> None:
    log.add((write.writer, write.seq, write.intended, "" if write.acked_at is None else write.acked_at))


async def read_back(
    client: httpx.AsyncClient, base_url: str, writers: list[str], timeout_s: float
) -> dict[str, set[int]]:
    """Each writer's stored seqs, read through the global endpoint (so from the current primary);
    retried until it answers or TIMEOUT_S passes."""
    deadline = time.monotonic() + timeout_s
    stored: dict[str, set[int]] = {}
    for writer in writers:
        while writer not in stored:
            try:
                response = await client.get(f"{base_url}/api/ledger/{writer}", timeout=5.0)
                if response.status_code == 200:
                    stored[writer] = set(response.json()["seqs"])
                    continue
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the ledger of {writer} could not be read back within {timeout_s:.0f} s")
            await asyncio.sleep(1.0)
    return stored
