"""The HTTP ledger's writers: sequenced writes through the global endpoint at a fixed rate, POSTed to
the target's ledger path (`ledger.path`, /api/ledger by default), and their read-back (GET PATH/WRITER).
The DSN ledger (`ledger.mode: dsn`) writes straight into the database instead: measure/dsn_ledger.py.

A write is acknowledged only by a 200/201 (the app answers after COMMIT). Anything else leaves it
indeterminate, with a note saying why ("timeout", "reset", "connect", "http 503", "task died"): it
may have committed, so it is never counted as lost.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from drillkit.measure.prober import SendClock
from drillkit.measure.raw import Write

ACKNOWLEDGED = (200, 201)
DEFAULT_PATH = "/api/ledger"


async def write_once(
    http: httpx.AsyncClient, base_url: str, writer: str, seq: int, intended: float, timeout: float,
    path: str = DEFAULT_PATH, headers: dict[str, str] | None = None,
) -> Write:
    clock = SendClock()
    acked_at, note = None, ""
    try:
        async with asyncio.timeout(max(intended + timeout - time.monotonic(), 0.001)):
            response = await http.post(f"{base_url}{path}", json={"writer": writer, "seq": seq},
                                       headers=headers, extensions={"trace": clock})
        if response.status_code in ACKNOWLEDGED:
            acked_at = time.monotonic()
        else:
            note = f"http {response.status_code}"
    except TimeoutError:
        note = "timeout"
    except httpx.ConnectError:
        note = "connect"
    except httpx.HTTPError as exc:
        note = "reset" if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError) else type(exc).__name__
    return Write(writer, seq, intended, clock.sent, acked_at, note)


def died(writer: str, seq: int, intended: float) -> Write:
    """The record of a write whose task raised: indeterminate, never lost."""
    return Write(writer, seq, intended, None, None, "task died")


async def read_back(
    http: httpx.AsyncClient, base_url: str, writers: list[str], timeout_s: float, path: str = DEFAULT_PATH,
    headers: dict[str, str] | None = None,
) -> dict[str, list[int]]:
    """Each writer's stored seqs, read through the global endpoint (so from the current primary);
    retried until it answers or TIMEOUT_S passes."""
    deadline = time.monotonic() + timeout_s
    stored: dict[str, list[int]] = {}
    for writer in writers:
        while writer not in stored:
            try:
                response = await http.get(f"{base_url}{path}/{writer}", headers=headers, timeout=5.0)
                if response.status_code == 200:
                    stored[writer] = sorted(response.json()["seqs"])
                    continue
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the ledger of {writer} could not be read back within {timeout_s:.0f} s")
            await asyncio.sleep(1.0)
    return stored
