"""Open-loop probing: requests leave on a fixed schedule whether or not earlier ones answered, and
latency runs from the intended send time, so a stalled server cannot hide its stall by slowing the
prober down (no coordinated omission). A request that leaves late carries its lateness in its
latency and in its send_lag."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import httpx

from drillkit.measure.samples import Sample

READ_PATHS = {"read": "/api/feed?limit=5", "live": "/livez"}


@dataclass(frozen=True)
class ProbeTarget:
    endpoint: str                          # "global", "region-a", …
    base_url: str
    kind: Literal["read", "write_read", "live"]  # write_read: a write and its read-back, the user's path;
    # live: the app's liveness endpoint only (no database), to time the process rather than the service


async def on_schedule(
    interval: float, stop: asyncio.Event, send: Callable[[float], Awaitable[None]]
) -> None:
    """Call SEND(intended_time) every INTERVAL seconds until STOP is set; wait for the stragglers."""
    started = time.monotonic()
    pending: set[asyncio.Task] = set()
    tick = 0
    while not stop.is_set():
        intended = started + tick * interval
        delay = intended - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(intended))
        pending.add(task)
        task.add_done_callback(pending.discard)
        tick += 1
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


async def probe_once(
    client: httpx.AsyncClient, target: ProbeTarget, intended: float, timeout: float
) -> list[Sample]:
    """One scheduled probe: a read, or a write and its read-back (two samples, the read-back's
    intended time being the moment the write was acknowledged)."""
    if target.kind in READ_PATHS:
        read = await _timed(client, "GET", f"{target.base_url}{READ_PATHS[target.kind]}", None,
                            target.endpoint, target.kind, intended, timeout)
        return [read.sample]
    write = await _timed(client, "POST", f"{target.base_url}/api/items",
                         {"tenant": "drillkit-probe", "title": "probe"}, target.endpoint, "write",
                         intended, timeout)
    if write.status != 201 or write.item_id is None:
        return [write.sample]
    read_back = await _timed(client, "GET", f"{target.base_url}/api/items/{write.item_id}", None,
                             target.endpoint, "read_back", write.sample.completed, timeout)
    return [write.sample, read_back.sample]


@dataclass(frozen=True)
class _Answer:
    sample: Sample
    item_id: int | None = None

    @property
    def status(self) -> int:
        return self.sample.status


async def _timed(
    client: httpx.AsyncClient, method: str, url: str, body: dict | None, endpoint: str, kind: str,
    intended: float, timeout: float,
) -> _Answer:
    send_lag = max(0.0, time.monotonic() - intended)
    status, error, item_id = 0, "", None
    try:
        async with asyncio.timeout(max(timeout - send_lag, 0.001)):
            response = await client.request(method, url, json=body)
        status = response.status_code
        error = "" if status < 400 else "http"
        if kind == "write" and status == 201:
            item_id = response.json().get("id")
    except TimeoutError:
        error = "timeout"
    except httpx.ConnectError:
        error = "connect"
    except (httpx.HTTPError, ValueError):
        error = "other"
    latency = timeout if error == "timeout" else time.monotonic() - intended
    return _Answer(Sample(endpoint, kind, intended, latency, status, error, send_lag), item_id)
