"""The probe process: probers, ledger writers and the leader poller in a process of their own.

    python -m drillkit.measure.probe_process OUT_DIR      (reads OUT_DIR/probe-config.json)

Its own interpreter and event loop keep it clear of chaoslib, the fault actions and the parent's
GIL: a slow action can never stall the schedule. It writes, flushed at least every second:

    samples.csv   one row per scheduled request (see measure/raw.py)
    ledger.csv    one row per ledger write
    leaders.csv   at,leader,lag_bytes_max: each poll of the database cluster
    probe.json    pid, origin (monotonic start of the schedules), state, send errors, and once the
                  schedules end its own CPU use and priority ("process")

It asks to run at a higher scheduling priority than the platform it measures (nice -10) where the
host allows it: a drill runs beside the platform, and the schedule must be kept when they compete for
a core. Whether it got it is recorded, as is the CPU it used.

SIGTERM or SIGINT (or the parent's death) stops the schedules; the process then waits for the
requests in flight, reads the ledger back and writes stored.json ({"stored": {writer: [seq…]}} or
{"error": "…"}), and exits 0.

Secrets never go into probe-config.json: the probes' bearer token and the DSN ledger's DSN come through
the environment (DRILLKIT_PROBE_TOKEN, DRILLKIT_LEDGER_DSN), and are masked in the process's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from drillkit import clock, durable, patroni_api, redaction
from drillkit.measure import dsn_ledger, http1, prober, writers
from drillkit.measure.raw import SAMPLE_COLUMNS, WRITE_COLUMNS, Write, sample_row, write_row
from drillkit.measure.samples import CsvLog
from drillkit.measure.writers import DEFAULT_PATH as HTTP_LEDGER_PATH

logger = logging.getLogger("drillkit")
CONFIG_FILE = "probe-config.json"
FLUSH_EVERY_S = 0.5
START_DELAY_S = 0.05  # lets every schedule be set up before its first slot
NICE = -10            # above the platform's processes (0), below the kernel's own threads
@dataclass(frozen=True)
class ProbeConfig:
    """What the parent asks for; written by MeasurementSession as probe-config.json."""

    endpoint: str                           # the global endpoint (HTTP ledger writes go there)
    probes: list[prober.ProbeFields]
    writers: list[str]
    patroni_apis: list[str] = field(default_factory=list)
    requests: dict[str, Any] = field(default_factory=dict)  # prober.Requests' fields, never the token
    ledger_mode: str = "http"               # "http": through the app; "dsn": into the database (DSN_ENV)
    ledger_path: str = HTTP_LEDGER_PATH
    interval_s: float = 0.05
    timeout_s: float = 2.0
    write_interval_s: float = 0.1
    leader_poll_s: float = 0.1
    reconcile_timeout_s: float = 120.0
    parent_pid: int | None = None

    @classmethod
    def load(cls, path: Path) -> ProbeConfig:
        return cls(**json.loads(path.read_text()))

    def asks(self, token: str | None) -> prober.Requests:
        """What the probers and the HTTP ledger send, with the bearer TOKEN when there is one."""
        return prober.Requests(**self.requests).with_token(token)


def _secret(name: str) -> str | None:
    """A secret handed over in the environment, masked in this process's log from now on."""
    value = os.environ.get(name) or None
    return dsn_ledger.remember(value) if value else None


class ProbeProcess:
    def __init__(self, out_dir: Path, config: ProbeConfig, priority: str = "not raised: not asked") -> None:
        self.out_dir = out_dir
        self.config = config
        self.samples = CsvLog(out_dir / "samples.csv", SAMPLE_COLUMNS)
        self.ledger = CsvLog(out_dir / "ledger.csv", WRITE_COLUMNS)
        self.leaders = CsvLog(out_dir / "leaders.csv", ["at", "leader", "lag_bytes_max"])
        self.stop = asyncio.Event()
        self.send_errors = 0
        self.origin = time.monotonic()
        self.asks = config.asks(_secret(prober.TOKEN_ENV))
        self.dsn = _secret(dsn_ledger.DSN_ENV) if config.ledger_mode == "dsn" else None
        self.priority = priority
        self.process: dict[str, Any] | None = None

    async def run(self) -> None:
        self.origin = time.monotonic() + START_DELAY_S  # every schedule starts from the same instant
        cpu_at_start = time.process_time()  # the interpreter's start-up is not the measuring's cost
        self._status("running")
        phases = self._phases()
        measuring = [*(self._probe(prober.ProbeTarget(**p), next(phases)) for p in self.config.probes),
                     *(self._write(writer, next(phases)) for writer in self.config.writers),
                     self._poll_leader()]
        housekeeping = [asyncio.create_task(self._flush_forever()),
                        asyncio.create_task(self._watch_parent())]
        await asyncio.gather(*measuring)
        self.process = {"cpu_s": round(time.process_time() - cpu_at_start, 3),
                        "measured_s": round(time.monotonic() - self.origin, 3),
                        "nice": os.getpriority(os.PRIO_PROCESS, 0), "priority": self.priority}
        for task in housekeeping:
            task.cancel()
        self._flush()
        self._status("reconciling")
        await self._reconcile()
        for log in (self.samples, self.ledger, self.leaders):
            log.close()
        self._status("stopped")

    # -- the schedules -----------------------------------------------------------------------------

    def _phases(self) -> Iterator[float]:
        """Each schedule's first slot, spread over one interval: schedules that all fired at the same
        instant would make the last request of each burst wait for the others to be sent."""
        schedules = len(self.config.probes) + len(self.config.writers)
        step = min(self.config.interval_s, self.config.write_interval_s) / max(schedules, 1)
        return (self.origin + n * step for n in count())

    async def _probe(self, target: prober.ProbeTarget, start: float) -> None:
        async def send(intended: float) -> None:
            for sample in await prober.probe_once(target, intended, self.config.timeout_s, self.asks):
                self.samples.add(sample_row(sample))

        def failed(intended: float, exc: BaseException) -> None:
            self.send_errors += 1
            for sample in prober.instrument_rows(target, intended, self.asks):
                self.samples.add(sample_row(sample))

        await prober.on_schedule(self.config.interval_s, self.stop, send, failed, start)

    async def _write(self, writer: str, start: float) -> None:
        sequence = count(1)
        seqs: dict[float, int] = {}

        async def send(intended: float) -> None:
            seqs[intended] = seq = next(sequence)
            write = await self._write_once(writer, seq, intended)
            seqs.pop(intended, None)
            self.ledger.add(write_row(write))

        def failed(intended: float, exc: BaseException) -> None:
            self.send_errors += 1
            seq = seqs.pop(intended, None)
            if seq is not None:  # the write may have gone out: indeterminate, never lost
                self.ledger.add(write_row(writers.died(writer, seq, intended)))

        await prober.on_schedule(self.config.write_interval_s, self.stop, send, failed, start)

    async def _write_once(self, writer: str, seq: int, intended: float) -> Write:
        if self.config.ledger_mode == "dsn":
            return await dsn_ledger.write_once(self._dsn(), writer, seq, intended, self.config.timeout_s)
        return await writers.write_once(self.config.endpoint, writer, seq, intended, self.config.timeout_s,
                                        self.config.ledger_path, self.asks.headers)

    def _dsn(self) -> str:
        if self.dsn is None:  # a send task that raises is recorded as "task died", never lost
            raise RuntimeError(f"the DSN ledger's DSN was not handed over ({dsn_ledger.DSN_ENV} is unset)")
        return self.dsn

    async def _poll_leader(self) -> None:
        while not self.stop.is_set():
            members = await _cluster_members(self.config.patroni_apis)
            if members:
                leader = patroni_api.leader_of(members) or ""
                lags = [m["lag"] for m in members if isinstance(m.get("lag"), int)]
                self.leaders.add((round(time.monotonic(), 6), leader, max(lags) if lags else ""))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.config.leader_poll_s)

    async def _reconcile(self) -> None:
        if not self.config.writers:
            return
        try:
            stored = await self._read_back()
            durable.write_json(self.out_dir / "stored.json", {"stored": stored})
        except (TimeoutError, RuntimeError) as exc:
            logger.error("ledger reconciliation failed: %s", exc)
            durable.write_json(self.out_dir / "stored.json", {"error": str(exc)})

    async def _read_back(self) -> dict[str, list[int]]:
        timeout_s = self.config.reconcile_timeout_s
        if self.config.ledger_mode == "dsn":
            return await dsn_ledger.read_back(self._dsn(), self.config.writers, timeout_s)
        return await writers.read_back(self.config.endpoint, self.config.writers, timeout_s,
                                       self.config.ledger_path, self.asks.headers)

    # -- housekeeping ------------------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            self._flush()

    async def _watch_parent(self) -> None:
        """A probe process whose parent died stops: it must never probe on, orphaned."""
        while self.config.parent_pid is not None:
            if os.getppid() != self.config.parent_pid:
                logger.error("the measuring parent %d is gone: stopping", self.config.parent_pid)
                self.stop.set()
                return
            await asyncio.sleep(0.5)

    def _flush(self) -> None:
        for log in (self.samples, self.ledger, self.leaders):
            log.flush()

    def _status(self, state: str) -> None:
        durable.write_json(self.out_dir / "probe.json", {
            "pid": os.getpid(), "state": state, "origin": self.origin, "anchor": clock.anchor(),
            "send_errors": self.send_errors, **({"process": self.process} if self.process else {}),
        })


def _raise_priority() -> str:
    """Ask for nice NICE; what came of it, in words for the report."""
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) > NICE:
            os.setpriority(os.PRIO_PROCESS, 0, NICE)
        return "raised"
    except OSError as exc:  # no CAP_SYS_NICE (an unprivileged user, a container without it)
        logger.warning("running at the default priority: raising it was refused (%s)", exc.strerror or exc)
        return f"not raised: {exc.strerror or exc}"


async def _cluster_members(apis: list[str]) -> list[dict[str, Any]]:
    """GET /cluster from the first Patroni API that answers; [] when none does."""
    for api in apis:
        try:
            async with asyncio.timeout(1.0):
                response = await http1.request("GET", f"{api.rstrip('/')}/cluster")
            if response.status == 200:
                return list(response.json().get("members", []))
        except (TimeoutError, OSError, ValueError, AttributeError):
            continue
    return []


async def _main(out_dir: Path) -> None:
    process = ProbeProcess(out_dir, ProbeConfig.load(out_dir / CONFIG_FILE), _raise_priority())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, process.stop.set)
    await process.run()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m drillkit.measure.probe_process OUT_DIR")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s probe: %(message)s")
    for handler in logging.getLogger().handlers:  # probe.log is a file of the run: no secret goes in
        handler.addFilter(redaction.LogFilter())
    asyncio.run(_main(Path(args[0])))


if __name__ == "__main__":
    main()
