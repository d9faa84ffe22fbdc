"""Open-loop probing: requests leave on a fixed schedule whether or not earlier ones answered, and
latency runs from the intended send time, so a stalled server cannot hide its stall by slowing the
prober down (no coordinated omission).

Every scheduled slot yields its rows, whatever happens: an answer, an error, a timeout, a read-back
that could not be sent because its write failed ("not_sent", a failed user request), or a send task
that raised ("instrument", the instrument's fault, logged and counted). A gap in a prober's slots
therefore always means the instrument itself stalled or died.

`sent` is when the request left the instrument: the moment its connection started to connect. Each
request gets a connection of its own (measure/http1.py): a freeze must not leave later requests hostage
to a pooled connection. With httpx's keep-alive pool, a 3 s freeze of the apps left the probers timing
out for 6.5-11 s after the resume while a prober opening a connection per request was answered from
+0.2 s: 331 of the 356 requests that failed after the resume had never left the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from drillkit.measure import http1
from drillkit.measure.samples import NOT_SENT, Sample

logger = logging.getLogger("drillkit")


ProbeKind = Literal["read", "write_read", "live"]
TOKEN_ENV = "DRILLKIT_PROBE_TOKEN"  # the probes' bearer token reaches the probe process only through its environment


@dataclass(frozen=True)
class Requests:
    """What the probers ask of the app (the target's `probes`, model/target.py::ProbePaths), and the
    headers sent with every probe and HTTP ledger request. Without a write path, the user's path is a
    read. The headers may hold the bearer token: a Requests is never written to a file as it is."""

    read: str = "/api/feed?limit=5"
    live: str = "/livez"
    write: str | None = "/api/items"
    write_body: dict[str, str] = field(default_factory=lambda: {"tenant": "drillkit-probe", "title": "probe"})
    read_back: str = "/api/items/{id}"
    headers: dict[str, str] = field(default_factory=dict)

    def with_token(self, token: str | None) -> Requests:
        """These requests, sent with `Authorization: Bearer TOKEN` (none: as they are)."""
        if not token:
            return self
        return Requests(self.read, self.live, self.write, self.write_body, self.read_back,
                        {**self.headers, "authorization": f"Bearer {token}"})


class ProbeFields(TypedDict):
    """A ProbeTarget as plain data (the probe process's configuration file)."""

    endpoint: str
    base_url: str
    kind: ProbeKind


@dataclass(frozen=True)
class ProbeTarget:
    endpoint: str                          # "global", "region-a", …
    base_url: str
    kind: ProbeKind                        # write_read: a write and its read-back, the user's path;
    # live: the app's liveness endpoint only (no database), to time the process rather than the service

    @property
    def name(self) -> str:
        return f"{self.endpoint}/{self.kind}"


async def on_schedule(
    interval: float, stop: asyncio.Event, send: Callable[[float], Awaitable[None]],
    failed: Callable[[float, BaseException], None], start: float | None = None,
) -> None:
    """Call SEND(intended) every INTERVAL seconds from START (now) until STOP is set, then wait for
    the stragglers. A send that raises is handed to FAILED(intended, exc), so that its slot is still
    accounted for."""
    started = time.monotonic() if start is None else start
    pending: set[asyncio.Task] = set()
    tick = 0
    while not stop.is_set():
        intended = started + tick * interval
        delay = intended - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_guarded(send, failed, intended))
        pending.add(task)
        task.add_done_callback(pending.discard)
        tick += 1
    if pending:
        await asyncio.wait(pending)


async def _guarded(send: Callable[[float], Awaitable[None]], failed: Callable[[float, BaseException], None],
                   intended: float) -> None:
    try:
        await send(intended)
    except Exception as exc:  # noqa: BLE001 - any failure of the instrument is recorded, never lost
        logger.exception("probe send task for the slot at %.3f raised", intended)
        failed(intended, exc)


def instrument_rows(target: ProbeTarget, intended: float, asks: Requests | None = None) -> list[Sample]:
    """The rows of a slot whose send task raised: the instrument failed, not the platform. They are the
    rows the slot would have had (one read on a user path without writes, as probe_once makes it)."""
    writes = target.kind == "write_read" and (asks or Requests()).write is not None
    kinds = ("write", "read_back") if writes else ("read",) if target.kind == "write_read" else (target.kind,)
    return [Sample(target.name, target.endpoint, kind, intended, None, time.monotonic() - intended, 0,
                   "instrument") for kind in kinds]


async def probe_once(target: ProbeTarget, intended: float, timeout: float, asks: Requests | None = None,
                     ) -> list[Sample]:
    """One scheduled slot: a read, or a write and its read-back (always two rows). The read-back is a
    request of its own, due when the write answered: its latency runs from then, so the latency SLI
    judges each request, as the objective does. One that could not be sent keeps the slot's times.
    On a target without a write path, the user's path (write_read) is a read."""
    asks = asks or Requests()
    read_path = {"read": asks.read, "live": asks.live}.get(target.kind, asks.read)
    if target.kind != "write_read" or asks.write is None:
        kind = "read" if target.kind == "write_read" else target.kind
        read = await _timed("GET", f"{target.base_url}{read_path}", None, target, kind, intended, timeout,
                            asks.headers)
        return [read.sample]
    write = await _timed("POST", f"{target.base_url}{asks.write}", asks.write_body, target, "write",
                         intended, timeout, asks.headers)
    if write.sample.status != 201 or write.item_id is None:
        # The user's read-back of this slot failed with its write: same slot, same instants, never sent.
        unsent = Sample(target.name, target.endpoint, "read_back", intended, None, write.sample.latency, 0, NOT_SENT)
        return [write.sample, unsent]
    read_back_path = asks.read_back.replace("{id}", str(write.item_id))
    read_back = await _timed("GET", f"{target.base_url}{read_back_path}", None, target,
                             "read_back", write.sample.completed, timeout, asks.headers)
    return [write.sample, read_back.sample]


@dataclass(frozen=True)
class _Answer:
    sample: Sample
    item_id: int | None = None


async def _timed(
    method: str, url: str, body: dict | None, target: ProbeTarget, kind: str, intended: float, timeout: float,
    headers: dict[str, str] | None = None,
) -> _Answer:
    clock = http1.SendClock()
    status, error, item_id = 0, "", None
    try:
        async with asyncio.timeout(max(intended + timeout - time.monotonic(), 0.001)):
            response = await http1.request(method, url, json=body, headers=headers, clock=clock)
        status = response.status
        error = "" if status < 400 else "http"
        if kind == "write" and status == 201:
            item_id = _item_id(response)
    except TimeoutError:
        error = "timeout"
    except http1.ConnectError:
        error = "connect"
    except (http1.ProtocolError, ValueError):
        error = "other"
    latency = timeout if error == "timeout" else time.monotonic() - intended
    return _Answer(Sample(target.name, target.endpoint, kind, intended, clock.sent, latency, status, error), item_id)


def _item_id(response: http1.Response) -> int | None:
    answer = response.json()
    if not isinstance(answer, dict):
        raise ValueError("the created item's answer is not a JSON object")
    return answer.get("id")
