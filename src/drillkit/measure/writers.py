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

from drillkit.measure import http1
from drillkit.measure.raw import Write

ACKNOWLEDGED = (200, 201)
DEFAULT_PATH = "/api/ledger"


async def write_once(
    base_url: str, writer: str, seq: int, intended: float, timeout: float, path: str = DEFAULT_PATH,
    headers: dict[str, str] | None = None,
) -> Write:
    clock = http1.SendClock()
    acked_at, note = None, ""
    try:
        async with asyncio.timeout(max(intended + timeout - time.monotonic(), 0.001)):
            response = await http1.request("POST", f"{base_url}{path}", json={"writer": writer, "seq": seq},
                                           headers=headers, clock=clock)
        if response.status in ACKNOWLEDGED:
            acked_at = time.monotonic()
        else:
            note = f"http {response.status}"
    except TimeoutError:
        note = "timeout"
    except http1.ConnectError:
        note = "connect"
    except http1.ProtocolError:
        note = "reset"
    return Write(writer, seq, intended, clock.sent, acked_at, note)


def died(writer: str, seq: int, intended: float) -> Write:
    """The record of a write whose task raised: indeterminate, never lost."""
    return Write(writer, seq, intended, None, None, "task died")


async def read_back(
    base_url: str, writers: list[str], timeout_s: float, path: str = DEFAULT_PATH,
    headers: dict[str, str] | None = None,
) -> dict[str, list[int]]:
    """Each writer's stored seqs, read through the global endpoint (so from the current primary);
    retried until it answers or TIMEOUT_S passes."""
    deadline = time.monotonic() + timeout_s
    stored: dict[str, list[int]] = {}
    for writer in writers:
        while writer not in stored:
            try:
                async with asyncio.timeout(5.0):
                    response = await http1.request("GET", f"{base_url}{path}/{writer}", headers=headers)
                if response.status == 200:
                    stored[writer] = sorted(response.json()["seqs"])
                    continue
            except (TimeoutError, OSError, ValueError, KeyError, TypeError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the ledger of {writer} could not be read back within {timeout_s:.0f} s")
            await asyncio.sleep(1.0)
    return stored
