"""A measurement session: the probe process (measure/probe_process.py) started beside the
experiment, from before the steady-state hypothesis until the service is stable again after the
rollbacks, and the analysis of what it recorded.

The parent only starts the process, tails its files for live decisions, tells it to stop (SIGTERM),
and reads the files back. If the process dies, the parent says so and keeps what was written.

The target's secrets the process needs (the probes' bearer token, the DSN ledger's DSN) are revealed
here, remembered for masking, and handed over in the process's environment, never in a file. With the
DSN ledger, the parent creates its table before the process starts and removes it after the read-back
(measure/dsn_ledger.py); a table that cannot be created leaves the RPO "not measured", said at start.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import psycopg

import drillkit
from drillkit import durable, interrupts
from drillkit.measure import analysis, dsn_ledger, prober, replay, restore
from drillkit.measure.ledger import Write
from drillkit.measure.probe_process import CONFIG_FILE, ProbeConfig
from drillkit.measure.prober import ProbeFields
from drillkit.measure.raw import sample_of, write_of
from drillkit.measure.samples import FaultEvent, Sample
from drillkit.model.objectives import Objectives
from drillkit.model.target import Target
from drillkit.redaction import redact

logger = logging.getLogger("drillkit")
USER_PROBER = "global/write_read"
START_TIMEOUT_S = 15.0
# An interrupted run still lets the probe process read the ledger back, for this long at most: the
# operator wants the run over within 30 s, rollbacks included. Past it, RPO is "not measured".
STOP_WHEN_INTERRUPTED_S = 10.0


@dataclass(frozen=True)
class MeasureSettings:
    interval_s: float = 0.05          # 20 requests a second per prober
    timeout_s: float = 2.0
    writers: int = 2
    write_interval_s: float = 0.1     # 10 ledger writes a second per writer
    stable_window_s: float = 10.0
    max_recovery_s: float = 300.0
    reconcile_timeout_s: float = 120.0
    leader_poll_s: float = 0.1        # T_promoted is observed, so at most this late
    probe_regions: bool = True
    min_coverage: float = 0.9         # share of a second's requests that must conclude to judge it
    sustain_s: float = 2.0            # badness this long is an incident
    impact_within_s: float = 20.0     # an incident this soon after a fault's T0 is attributed to it


class CsvTail:
    """Reads the rows appended to a CSV file since the last call; a torn last line waits."""

    def __init__(self, path: Path, parse: Callable[[list[str]], Any]) -> None:
        self.path = path
        self._parse = parse
        self._offset = 0
        self._header_seen = False

    def read(self) -> list[Any]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        rows = []
        for line in complete.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            if not self._header_seen:
                self._header_seen = True
                continue
            rows.append(self._parse(line.split(",")))
        return rows


class MeasurementSession:
    def __init__(self, *, target: Target, out_dir: Path, settings: MeasureSettings, objectives: Objectives):
        self.target = target
        self.out_dir = out_dir
        self.settings = settings
        self.objectives = objectives
        self.writer_ids = [f"{uuid.uuid4().hex[:8]}-w{n}" for n in range(settings.writers)]
        self.samples: list[Sample] = []
        self.writes: list[Write] = []
        self.leaders: list[tuple[float, str]] = []
        self.lags: list[int] = []
        self.faults: list[FaultEvent] = []
        self.rollbacks_started: float | None = None
        self.rollbacks_ended: float | None = None
        self.stored: dict[str, set[int]] | None = None
        self.reconcile_error: str | None = None
        self.died: str | None = None
        self.ledger_error: str | None = None   # the DSN ledger's table could not be created
        self._created_table = False
        self._ledger_dsn: str | None = None    # kept from the start: the clean-up must not read the secret again
        self.origin = time.monotonic()
        self.ended: float | None = None
        self._process: subprocess.Popen | None = None
        self._tails = {
            "samples": CsvTail(out_dir / "samples.csv", sample_of),
            "ledger": CsvTail(out_dir / "ledger.csv", write_of),
            "leaders": CsvTail(out_dir / "leaders.csv", lambda row: row),
        }

    # -- life cycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("probe.json", "stored.json"):
            (self.out_dir / stale).unlink(missing_ok=True)
        secrets = self._secrets()
        self._ledger_dsn = secrets.get(dsn_ledger.DSN_ENV)
        self._prepare_ledger(self._ledger_dsn)
        try:
            pid = self._start_probe_process(secrets)
        except BaseException:
            self._abandon()
            raise
        logger.info("measuring in process %d: %d probers at %.0f requests/s each, %d ledger writers at "
                    "%.0f writes/s", pid, len(self._probe_config().probes),
                    1 / self.settings.interval_s, len(self.writer_ids), 1 / self.settings.write_interval_s)

    def _start_probe_process(self, secrets: dict[str, str]) -> int:
        """Start the probe process and wait until its schedules run; its pid."""
        (self.out_dir / CONFIG_FILE).write_text(redact(json.dumps(asdict(self._probe_config()), indent=2)))
        with (self.out_dir / "probe.log").open("ab") as log:
            self._process = process = subprocess.Popen(
                [sys.executable, "-m", "drillkit.measure.probe_process", str(self.out_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=_child_env(secrets), start_new_session=True,  # Ctrl-C in the terminal must not stop the measuring
            )
        self.origin = self._wait_until_running()
        return process.pid

    def _abandon(self) -> None:
        """A start that failed: no one will call stop(), so the probe process goes and so does the ledger
        table the session made (a caller that does call stop() finds both done)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._clean_up_ledger()
        self._ledger_dsn = None

    def note_fault(self, fault: FaultEvent) -> None:
        self.faults.append(fault)

    def note_rollbacks_started(self, at: float) -> None:
        self.rollbacks_started = at

    def note_rollbacks_ended(self, at: float) -> None:
        self.rollbacks_ended = at

    def check_alive(self) -> bool:
        """Whether the probe process still runs; its death is noticed and logged once."""
        if self._process is None or self.died:
            return False
        code = self._process.poll()
        if code is not None and self.ended is None:
            self.died = f"the probe process exited with code {code} (see {self.out_dir / 'probe.log'})"
            logger.error("measurement degraded: %s; what it wrote so far is kept", self.died)
        return code is None

    def wait_for_recovery(self, settled_after: float) -> str:
        """Measure on until the user path has been good for a whole stable window entirely after
        SETTLED_AFTER (the end of the rollbacks), or the recovery limit passes. Returns why it stopped."""
        since = min((f.issued for f in self.faults), default=settled_after)
        limit = max(since + self.settings.max_recovery_s,
                    settled_after + self.settings.stable_window_s + self.settings.timeout_s)
        # a fault is "no impact" only once its whole impact window was watched
        watched = max((f.confirmed + self.settings.impact_within_s + self.settings.timeout_s
                       for f in self.faults if f.confirmed is not None), default=0.0)
        while True:
            if not self.check_alive():
                return "probe process died"
            self.refresh()
            now = time.monotonic()
            if now >= watched and self._recovered(now, settled_after):
                return "stable"
            if now >= limit:
                logger.warning("the service was not stable within %.0f s: measurement stops",
                               self.settings.max_recovery_s)
                return "recovery limit"
            time.sleep(0.5)

    def refresh(self) -> None:
        """Take in the rows the probe process wrote since the last call."""
        self.samples += self._tails["samples"].read()
        self.writes += self._tails["ledger"].read()
        for at, leader, lag in self._tails["leaders"].read():
            self.leaders.append((float(at), leader))
            if lag:
                self.lags.append(int(lag))

    def recent(self, seconds: float = 10.0) -> dict[str, float | int | None]:
        """Live SLIs of the global endpoint over the last SECONDS, for progress displays."""
        self.refresh()
        since = time.monotonic() - seconds
        answers = [s for s in self.samples if s.endpoint == "global" and s.completed >= since
                   and s.error not in ("not_sent", "instrument")]
        if not answers:
            return {"requests": 0, "availability": None, "p95_ms": None}
        ok = sorted(s.latency for s in answers if s.succeeded)
        return {"requests": len(answers), "availability": len(ok) / len(answers),  # p95 of successes only
                "p95_ms": ok[int(0.95 * (len(ok) - 1))] * 1000 if ok else math.nan}

    def stop(self, wait_s: float | None = None) -> None:
        """Stop the schedules, let the process reconcile the ledger (for WAIT_S at most; default: the
        reconcile timeout and 30 s), and read everything back."""
        self.check_alive()  # a death before the stop is noticed and logged
        self.ended = time.monotonic()
        wait_s = self.settings.reconcile_timeout_s + 30 if wait_s is None else wait_s
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                logger.error("the probe process did not finish within %.0f s: killed; the ledger was not read "
                             "back", wait_s)
                self._process.kill()
                self._process.wait()
        self.refresh()
        self._read_stored()
        self._clean_up_ledger()

    def finish(self, stopped: str, *, interrupted: bool) -> tuple[dict[str, Any], bool]:
        """Stop (an INTERRUPTED run waits STOP_WHEN_INTERRUPTED_S at most for the ledger's read-back),
        analyse, and write measurements.json; the measurements, and whether a signal arrived meanwhile:
        it is held until they are saved, never lets them be lost."""
        with interrupts.held() as caught:
            self.stop(wait_s=STOP_WHEN_INTERRUPTED_S if interrupted else None)
            measurements = self.summary(stopped=stopped)
            durable.write_json(self.out_dir / "measurements.json", measurements)
        logger.info("measurements (%s): %s", stopped, self.out_dir / "measurements.json")
        return measurements, bool(caught)

    def summary(self, stopped: str = "stopped") -> dict[str, Any]:
        """measurements.json's content: the analysis of everything recorded."""
        ended = self.ended or time.monotonic()
        reason = f"{stopped}; {self.died}" if self.died else stopped
        measured = analysis.analyze(
            samples=list(self.samples), writes=list(self.writes), stored=self.stored,
            reconcile_error=self.reconcile_error, faults=list(self.faults),
            rollbacks=self.rollbacks, leaders=replay.leader_changes(self.leaders), lags=list(self.lags),
            settings=self.analysis_settings(), objectives=self.objectives, origin=self.origin,
            ended=ended, stopped=reason, restore_records=restore.read_records(self.out_dir),
            process=replay.process_use(self.out_dir),
        )
        facts = replay.record(origin=self.origin, ended=ended, stopped=reason, faults=list(self.faults),
                              rollbacks=self.rollbacks, settings=self.analysis_settings(), writers=self.writer_ids)
        durable.write_json(self.out_dir / replay.RECORD_FILE, facts)  # what `drillkit report` analyses again
        data = measured.model_dump(mode="json", by_alias=True)
        data["files"] = self.files
        return data

    @property
    def rollbacks(self) -> tuple[float, float | None] | None:
        return None if self.rollbacks_started is None else (self.rollbacks_started, self.rollbacks_ended)

    @property
    def files(self) -> dict[str, str]:
        names = ("samples.csv", "ledger.csv", "leaders.csv", "stored.json", replay.RECORD_FILE, "probe.log")
        return {name.split(".")[0]: name for name in names if (self.out_dir / name).exists()}

    def analysis_settings(self) -> analysis.AnalysisSettings:
        wanted = {f.name for f in fields(analysis.AnalysisSettings)}
        return analysis.AnalysisSettings(**{k: v for k, v in asdict(self.settings).items() if k in wanted})

    # -- parts -----------------------------------------------------------------------------------------

    def _secrets(self) -> dict[str, str]:
        """The secrets the probe process needs, by the environment variable that hands each over."""
        found = {}
        if self.target.probes.token is not None:
            found[prober.TOKEN_ENV] = self.target.probes.token.reveal()
        if self.target.ledger.mode == "dsn" and self.target.ledger.dsn is not None:
            found[dsn_ledger.DSN_ENV] = dsn_ledger.remember(self.target.ledger.dsn.reveal())
        return found

    def _prepare_ledger(self, dsn: str | None) -> None:
        """The DSN ledger's table, before the first write; when it cannot be made, the session measures
        without writers, and stored.json says why the RPO is not measured."""
        if self.target.ledger.mode != "dsn" or not self.writer_ids:
            return
        try:
            if dsn is None:
                raise psycopg.OperationalError("the target's ledger names no DSN")
            if why := dsn_ledger.malformed(dsn):
                self._ledger_unmeasurable(why)
                return
            self._created_table = dsn_ledger.prepare(dsn)
        except psycopg.Error as exc:
            self._ledger_unmeasurable(f"its table {dsn_ledger.TABLE} could not be created "
                                      f"({redact(str(exc).strip())})")

    def _ledger_unmeasurable(self, why: str) -> None:
        self.ledger_error = f"the DSN ledger is not measurable: {why}"
        logger.error("%s; the run goes on without ledger writers (RPO not measured)", self.ledger_error)
        durable.write_json(self.out_dir / "stored.json", {"error": self.ledger_error})

    def _clean_up_ledger(self) -> None:
        """After the read-back: the table drillkit made goes, or only the session's rows. A failure is
        said, never raised: the measurements are worth keeping."""
        if self._ledger_dsn is None or self.ledger_error or not self.writer_ids:
            return
        try:
            done = dsn_ledger.clean_up(self._ledger_dsn, self.writer_ids, created=self._created_table)
            logger.info("DSN ledger: %s", done)
        except psycopg.Error as exc:
            logger.error("the DSN ledger's table %s could not be cleaned up (%s): remove it by hand",
                         dsn_ledger.TABLE, redact(str(exc).strip()))

    def _probe_config(self) -> ProbeConfig:
        endpoint = str(self.target.endpoint).rstrip("/")
        probes: list[ProbeFields] = [{"endpoint": "global", "base_url": endpoint, "kind": "write_read"},
                  {"endpoint": "global", "base_url": endpoint, "kind": "read"}]
        if self.settings.probe_regions:
            probes += [{"endpoint": name, "base_url": str(region.app.url).rstrip("/"), "kind": "read"}
                       for name, region in self.target.regions.items()]
        apis = [str(m.patroni_api) for m in self.target.members().values()]
        s = self.settings
        return ProbeConfig(endpoint=endpoint, probes=probes, writers=[] if self.ledger_error else self.writer_ids,
                           patroni_apis=apis, interval_s=s.interval_s, timeout_s=s.timeout_s,
                           write_interval_s=s.write_interval_s, leader_poll_s=s.leader_poll_s,
                           reconcile_timeout_s=s.reconcile_timeout_s, parent_pid=os.getpid(),
                           requests=self.target.probes.model_dump(exclude={"token"}),
                           ledger_mode=self.target.ledger.mode, ledger_path=self.target.ledger.path)

    def _wait_until_running(self) -> float:
        deadline = time.monotonic() + START_TIMEOUT_S
        status = self.out_dir / "probe.json"
        while time.monotonic() < deadline:
            if status.exists():
                return float(json.loads(status.read_text())["origin"])
            if self._process is not None and self._process.poll() is not None:
                break
            time.sleep(0.05)
        self.check_alive()  # logs the death, if that is what happened
        raise RuntimeError(f"the probe process did not start within {START_TIMEOUT_S:.0f} s "
                           f"(see {self.out_dir / 'probe.log'})")

    def _recovered(self, now: float, settled_after: float) -> bool:
        user = [s for s in self.samples if s.prober == USER_PROBER]
        return analysis.recovered(user, settings=self.analysis_settings(), objectives=self.objectives,
                                  origin=self.origin, now=now, since=settled_after)

    def _read_stored(self) -> None:
        if self.writer_ids:
            self.stored, self.reconcile_error = replay.read_stored(self.out_dir / "stored.json")
        if self.reconcile_error:
            logger.error("ledger reconciliation failed: %s%s", self.reconcile_error,
                         f" ({self.died})" if self.died else "")



def _child_env(secrets: dict[str, str]) -> dict[str, str]:
    """The parent's environment, with drillkit importable whichever way the parent found it, and the
    SECRETS the probe process needs (never a stale one of the parent's own environment)."""
    package_root = str(Path(drillkit.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    inherited = {k: v for k, v in os.environ.items() if k not in (prober.TOKEN_ENV, dsn_ledger.DSN_ENV)}
    return {**inherited, **secrets, "PYTHONPATH": os.pathsep.join(p for p in (package_root, path) if p)}
