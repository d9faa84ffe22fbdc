"""The sandbox's backup server loop: what cron and a backup schedule do on a real backup host.

    python -m drillkit.backup.scheduler --settings <json file>

Every CRON_INTERVAL_S it runs `barman cron` (which restarts WAL streaming after a failover and moves the
received WAL into the encrypted archive), then takes the backup that is due: the first full backup at
once, a full when the newest full is older than 0.9 × full_every, otherwise an incremental when the
newest backup is older than 0.9 × incremental_every (the intervals are the policy's, already scaled to
real seconds; the 0.9 keeps the newest backup inside its interval despite the tick and the backup's own
duration). One log line per action, with its duration. A failed barman call is logged and tried again
at the next tick: the loop never dies of one. After each tick it writes its heartbeat, which `sandbox
status` reads.

It follows the runbook a well-run backup host follows, each step logged as "runbook: …":
- a backup that did not finish (barman failed inside it, and such a record can break every later
  `list-backups`) is diagnosed from its record, removed from the catalogue, and the backup is retried;
- a failover since the newest backup (a newer timeline in the archive) makes the next backup a full one:
  an incremental is never built across a timeline switch;
- WAL streaming that stays down for STUCK_TICKS ticks (a lossy failover left it behind the new
  timeline) is reset to the server's current position;
- the plaintext duplicates barman sets aside in errors/ of files the archive already holds encrypted
  are removed, so that the store keeps every file encrypted.

A backup's age is wall-clock time against barman's catalogue (the backup's end, in UTC): the catalogue
outlives this process, so there is no monotonic instant to compare it with.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from drillkit import durable
from drillkit.backup.barman import Barman
from drillkit.errors import DrillkitError
from drillkit.model.backup import BackupInfo

__all__ = ["HEARTBEAT_FILE", "SchedulerSettings", "due", "heartbeat_age", "main"]

HEARTBEAT_FILE = "heartbeat.json"
MARGIN = 0.9
CHECK_EVERY = 2          # ticks between two looks at WAL streaming (`barman check` costs 0.2 s)
STUCK_TICKS = 3          # looks in a row with WAL streaming down before the receiver is reset
STREAMING_CHECKS = ("receive_wal_running", "replication_slot")
logger = logging.getLogger("drillkit.backup.scheduler")

Due = Literal["full", "incremental"] | None


class SchedulerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    barman: str
    config: str
    server: str
    full_every_s: float = Field(gt=0)
    incremental_every_s: float = Field(gt=0)
    cron_interval_s: float = Field(5.0, gt=0)
    heartbeat: str


def due(backups: list[BackupInfo], now_epoch: float, full_every_s: float, incremental_every_s: float) -> Due:
    """Which backup is due now, if any, given the catalogue (oldest first)."""
    done = [info for info in backups if info.status == "DONE" and info.end_utc]
    fulls = [info for info in done if info.kind == "full"]
    if not fulls:
        return "full"
    if now_epoch - _epoch(fulls[-1]) > MARGIN * full_every_s:
        return "full"
    if now_epoch - _epoch(done[-1]) > MARGIN * incremental_every_s:
        return "incremental"
    return None


def _epoch(info: BackupInfo) -> float:
    return datetime.fromisoformat(str(info.end_utc)).timestamp()


def newest_timeline(wal_names: list[str]) -> int | None:
    """The newest timeline the archive knows of, from its history files (None: only timeline 1)."""
    timelines = [int(name[:8], 16) for name in wal_names if name.endswith(".history")]
    return max(timelines, default=None)


def crosses_a_failover(backups: list[BackupInfo], wal_names: list[str]) -> bool:
    """Whether the cluster moved to a newer timeline since the newest finished backup was taken."""
    done = [info for info in backups if info.status == "DONE" and info.timeline is not None]
    newest = newest_timeline(wal_names)
    return bool(done) and newest is not None and newest > (done[-1].timeline or 0)


class Scheduler:
    def __init__(self, settings: SchedulerSettings, barman: Barman) -> None:
        self.settings = settings
        self.barman = barman
        self.stopping = False
        self.last_action = "starting"
        self.last_error = ""
        self.streaming_down = 0  # consecutive looks that found WAL streaming down
        self.ticks = 0

    def run(self) -> None:
        while not self.stopping:
            self.tick()
            self._sleep(self.settings.cron_interval_s)
        logger.info("stopping")

    def tick(self) -> None:
        self.last_error = ""  # the heartbeat tells of this tick only
        self.ticks += 1
        self._timed("barman cron", self.barman.cron)
        if self.ticks % CHECK_EVERY == 1:
            self._timed("runbook: WAL streaming", self._watch_streaming, quiet=True)
        self._timed("runbook: plaintext duplicates", self._remove_duplicates, quiet=True)
        self._timed("runbook: unfinished backups", self._remove_unfinished, quiet=True)
        kind = self._timed("choosing the backup due", self._due, quiet=True)
        if kind is not None:
            self._beat()  # a backup may take a while: say we were alive just before it
            self._timed(f"{kind} backup", lambda: self.barman.backup(incremental=kind == "incremental"))
        self._beat()

    def _due(self) -> Due:
        catalogue = self.barman.list_backups()
        kind = due(catalogue, time.time(), self.settings.full_every_s, self.settings.incremental_every_s)
        if kind == "incremental" and crosses_a_failover(catalogue, [wal.name for wal in self.barman.wal_files()]):
            logger.info("runbook: the cluster changed timeline since the newest backup: a full backup, not an "
                        "incremental across the switch")
            return "full"
        return kind

    def _watch_streaming(self) -> None:
        """Reset the WAL receiver once streaming was found down STUCK_TICKS looks in a row."""
        checks = self.barman.check()
        down = [name for name in STREAMING_CHECKS if checks.get(name, True) is not True]
        self.streaming_down = self.streaming_down + 1 if down else 0
        if self.streaming_down >= STUCK_TICKS:
            logger.warning("runbook: WAL streaming down at %d looks in a row (%s): resetting the receiver to the "
                           "server's current position", self.streaming_down,
                           "; ".join(f"{name} {checks[name]}" for name in down))
            self.barman.receive_wal_reset()
            self.streaming_down = 0

    def _remove_duplicates(self) -> None:
        for path in self.barman.archived_duplicates():
            path.unlink(missing_ok=True)
            logger.info("runbook: removed %s, a plaintext duplicate of a file the archive holds encrypted",
                        path.name)

    def _remove_unfinished(self) -> None:
        """A backup that did not finish, while none runs (the loop takes one at a time, and not now)."""
        for backup_id, status, error in self.barman.unfinished_on_disk():
            logger.warning("runbook: backup %s did not finish (status %s, barman's error: %s): removed from "
                           "the catalogue; the backup is taken again", backup_id, status or "none", error)
            self.barman.delete(backup_id)

    def _timed(self, what: str, call: Callable[[], Any], quiet: bool = False) -> Any:
        """CALL's result, or None when barman failed; one log line either way (QUIET: on failure only),
        with its duration."""
        started = time.monotonic()
        try:
            result = call()
        except (DrillkitError, OSError) as exc:
            self.last_error = f"{what} failed after {time.monotonic() - started:.1f} s: {exc}"
            logger.error(self.last_error)
            return None
        if quiet:
            return result
        line = f"{what} ok in {time.monotonic() - started:.1f} s"
        if isinstance(result, BackupInfo):
            line = f"{what} {result.id} {result.status} in {time.monotonic() - started:.1f} s"
            self.last_action, self.last_error = line, ""
        logger.info(line)
        return result

    def _beat(self) -> None:
        durable.write_json(Path(self.settings.heartbeat), {
            "utc": datetime.now(UTC).isoformat(), "pid": os.getpid(),
            "last_action": self.last_action, "last_error": self.last_error,
        })

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, deadline - time.monotonic()))


def heartbeat_age(path: Path) -> float | None:
    """Seconds since the scheduler last beat (file modification time), None when it never did."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drillkit.backup.scheduler")
    parser.add_argument("--settings", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    settings = SchedulerSettings.model_validate(json.loads(args.settings.read_text()))
    barman = Barman(Path(settings.barman), Path(settings.config), settings.server, run_as=None)
    scheduler = Scheduler(settings, barman)

    def stop(signum: int, frame: object) -> None:
        scheduler.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info(f"backing up {settings.server}: a full every {settings.full_every_s:.0f} s, an incremental "
                f"every {settings.incremental_every_s:.0f} s, barman cron every {settings.cron_interval_s:g} s")
    scheduler.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
