"""A measurement session: probers, ledger writers and a leader poller running in a thread of their
own (with their own asyncio loop) beside the experiment, from before the steady-state hypothesis
until the service is stable again after the rollbacks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from drillkit.faults.database import cluster
from drillkit.measure import prober, timeline, writers
from drillkit.measure.ledger import Write
from drillkit.measure.samples import CsvLog, SampleWriter, of_endpoint
from drillkit.measure.summary import USER_PATH, summarize
from drillkit.model.objectives import Objectives
from drillkit.model.target import Target

logger = logging.getLogger("drillkit")


@dataclass(frozen=True)
class MeasureSettings:
    interval_s: float = 0.05          # 20 requests a second per endpoint
    timeout_s: float = 2.0
    writers: int = 2
    write_interval_s: float = 0.1     # 10 ledger writes a second per writer
    stable_window_s: float = 10.0
    max_recovery_s: float = 300.0
    reconcile_timeout_s: float = 120.0
    leader_poll_s: float = 0.1       # T_promoted is observed, so at most this late
    probe_regions: bool = True

    def timeline(self, latency_threshold_s: float) -> timeline.TimelineSettings:
        return timeline.TimelineSettings(self.interval_s, self.stable_window_s, self.max_recovery_s,
                                         latency_threshold_s)


class MeasurementSession:
    def __init__(self, *, target: Target, out_dir: Path, settings: MeasureSettings, objectives: Objectives):
        self.target = target
        self.out_dir = out_dir
        self.settings = settings
        self.objectives = objectives
        self.samples = SampleWriter(out_dir / "samples.csv")
        self._ledger_log = CsvLog(out_dir / "ledger.csv", ["writer", "seq", "intended", "acked_at"])
        self.writer_ids = [f"{uuid.uuid4().hex[:8]}-w{n}" for n in range(settings.writers)]
        self.writes: list[Write] = []
        self.faults: list[timeline.FaultEvent] = []
        self.leaders: list[tuple[float, str]] = []
        self.lags: list[int] = []
        self.stored: dict[str, set[int]] | None = None
        self.reconcile_error: str | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drillkit-measure", daemon=True)
        self.started = time.monotonic()
        self.ended: float | None = None
        self.settled: float | None = None  # when the rollbacks were done

    # -- life cycle (called from the experiment's thread) ------------------------------------------

    def start(self) -> None:
        self.started = time.monotonic()
        self._thread.start()
        self._ready.wait(timeout=10)
        logger.info("measuring: %d probers at %.0f requests/s each, %d ledger writers at %.0f writes/s",
                    len(self._probe_targets()), 1 / self.settings.interval_s, len(self.writer_ids),
                    1 / self.settings.write_interval_s)

    def note_fault(self, name: str, at: float) -> None:
        self.faults.append(timeline.FaultEvent(name, at))

    def wait_for_recovery(self, settled_after: float) -> None:
        """Keep measuring until the user path has been stable for a whole window after SETTLED_AFTER
        (the end of the rollbacks), or until the maximum recovery wait from T0 has passed."""
        self.settled = settled_after
        window = self.settings.stable_window_s
        while True:
            now = time.monotonic()
            line = self.current_timeline()
            deadline = (line.t0 if line else settled_after) + self.settings.max_recovery_s
            recovered = line is None or not line.impact or line.stable is not None
            if (recovered and now >= settled_after + window) or now >= max(deadline, settled_after + window):
                return
            time.sleep(0.5)

    def current_timeline(self) -> timeline.Timeline | None:
        if not self.faults:
            return None
        threshold = self.objectives.latency_threshold_ms / 1000
        return timeline.compute(of_endpoint(self.samples.snapshot(), *USER_PATH), self.faults,
                                self.settings.timeline(threshold), time.monotonic(), self.leaders)

    def recent(self, seconds: float = 10.0) -> dict[str, float | int | None]:
        """Live SLIs of the global endpoint over the last SECONDS, for progress displays."""
        since = time.monotonic() - seconds
        answers = [s for s in of_endpoint(self.samples.snapshot(), "global") if s.completed >= since]
        if not answers:
            return {"requests": 0, "availability": None, "p95_ms": None}
        latencies = sorted(s.latency for s in answers)
        return {"requests": len(answers),
                "availability": sum(s.succeeded for s in answers) / len(answers),
                "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000}

    def stop(self) -> None:
        """Stop probing and writing, then read the ledger back (in the session's thread)."""
        self.ended = time.monotonic()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=self.settings.reconcile_timeout_s + 30)
        self.samples.close()
        self._ledger_log.close()

    def summary(self) -> dict[str, Any]:
        threshold = self.objectives.latency_threshold_ms / 1000
        result = summarize(
            samples=self.samples.snapshot(), writes=list(self.writes), stored=self.stored,
            faults=list(self.faults), leaders=list(self.leaders), lags=list(self.lags),
            settings=self.settings.timeline(threshold), objectives=self.objectives,
            started=self.started, ended=self.ended or time.monotonic(), settled=self.settled,
        )
        result["files"] = {"samples": "samples.csv", "ledger": "ledger.csv"}
        if self.reconcile_error:
            result["rpo"]["error"] = self.reconcile_error
        return result

    # -- the session's own thread ------------------------------------------------------------------

    _loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=100)
        async with httpx.AsyncClient(limits=limits, timeout=self.settings.timeout_s) as client:
            await asyncio.gather(
                *(self._probe(client, target) for target in self._probe_targets()),
                *(self._write(client, writer) for writer in self.writer_ids),
                self._poll_leader(),
            )
            await self._reconcile(client)

    def _probe_targets(self) -> list[prober.ProbeTarget]:
        endpoint = str(self.target.endpoint).rstrip("/")
        targets = [prober.ProbeTarget("global", endpoint, "write_read"),
                   prober.ProbeTarget("global", endpoint, "read")]
        if self.settings.probe_regions:
            targets += [prober.ProbeTarget(name, str(region.app.url).rstrip("/"), "read")
                        for name, region in self.target.regions.items()]
        return targets

    async def _probe(self, client: httpx.AsyncClient, target: prober.ProbeTarget) -> None:
        async def send(intended: float) -> None:
            for sample in await prober.probe_once(client, target, intended, self.settings.timeout_s):
                self.samples.add(sample)

        await prober.on_schedule(self.settings.interval_s, self._stop, send)

    async def _write(self, client: httpx.AsyncClient, writer: str) -> None:
        endpoint = str(self.target.endpoint).rstrip("/")
        sequence = iter(range(1, 1 << 62))

        async def send(intended: float) -> None:
            write = await writers.write_once(client, endpoint, writer, next(sequence), intended,
                                             self.settings.timeout_s)
            self.writes.append(write)
            writers.log_write(self._ledger_log, write)

        await prober.on_schedule(self.settings.write_interval_s, self._stop, send)

    async def _poll_leader(self) -> None:
        while not self._stop.is_set():
            members = await asyncio.to_thread(cluster.members, self.target)
            leader = next((m["name"] for m in members if m.get("role") in cluster.LEADER_ROLES
                           and m.get("state") == "running"), "")
            self.leaders.append((time.monotonic(), leader))
            self.lags += [m["lag"] for m in members if isinstance(m.get("lag"), int)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.leader_poll_s)

    async def _reconcile(self, client: httpx.AsyncClient) -> None:
        endpoint = str(self.target.endpoint).rstrip("/")
        try:
            self.stored = await writers.read_back(client, endpoint, self.writer_ids,
                                                  self.settings.reconcile_timeout_s)
        except TimeoutError as exc:
            self.reconcile_error = str(exc)
            logger.error("ledger reconciliation failed: %s", exc)
