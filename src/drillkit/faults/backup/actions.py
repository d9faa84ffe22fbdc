"""Backup faults and the restores that answer them: a destructive migration on the primary, a
point-in-time restore to just before it, a restore from the backups alone, and their rollbacks.

Each restore runs the procedure of backup/restore.py into a copy beside production (logged as a fault
before the copy exists, so `drillkit recover` stops and removes a half-restored copy) and writes its
record, restore-<activity>.json, in the run folder, where the measurement finds it. The destructive
change keeps the rows it deletes in a side table, its own safety net: the rollback puts them back. The
restore's measurement reads the restored copy only, never that table.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from psycopg import sql

from drillkit import clock, durable
from drillkit.backup import restore
from drillkit.backup.barman import Barman
from drillkit.backup.scheduler import MARGIN as SCHEDULE_MARGIN
from drillkit.faults.boundary import activity
from drillkit.faults.environment import Environment, environment, heal, inject
from drillkit.measure.probe_process import CONFIG_FILE
from drillkit.measure.restore import record_file
from drillkit.model import paths
from drillkit.model.backup import RestoreMode, RestoreRecord
from drillkit.model.target import BackupSettings

__all__ = [
    "bad_migration",
    "undo_bad_migration",
    "restore_point_in_time",
    "restore_from_backups",
    "remove_restored_copy",
]

OUT_KEY = "drillkit_out"          # the run folder, as the measure control finds it
OUT_ENV = "DRILLKIT_OUT"
MIGRATION_FILE = "bad-migration.json"  # the destructive change's T0 and markers, for the restore that follows
_SIDE_TABLE = re.compile(r"^drillkit_saved_ledger_[0-9a-f]{8}$")
_MARKER_PREFIX = "drillkit-marker-"
_COPY_NAME = re.compile(r"^[a-z0-9_-]+$")


@activity
def bad_migration(fraction: float = 0.9, configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """DELETE FRACTION of the ledger's rows on the primary, as a migration gone wrong would; it reaches
    every replica in milliseconds. T0 = [the statement issued, its COMMIT confirmed]. A marker row is
    written just before T0 and one just after it, for the restore to prove its target."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction!r}")
    env = environment(configuration)
    dsn = _settings(env).database.reveal()
    tag = uuid.uuid4().hex[:8]
    side, marker = f"drillkit_saved_ledger_{tag}", f"{_MARKER_PREFIX}{tag}"
    _write_marker(dsn, marker, 1)
    output = inject(env, "bad_migration", (undo_bad_migration, {"side_table": side}),
                    lambda: _delete_most(dsn, side, fraction), side_table=side, fraction=fraction)
    _write_marker(dsn, marker, 2)
    issued = float(output["issued_monotonic"])
    durable.write_json(_out_dir(env) / MIGRATION_FILE, {
        "t0_issued": issued, "t0_confirmed": float(output["injected_monotonic"]),
        "t0_utc": clock.utc_of(issued).isoformat(), "marker": marker, "side_table": side})
    return output


@activity
def undo_bad_migration(
    side_table: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """Put back the rows the migration deleted, from its side table (rows already back are skipped),
    and drop the table: SIDE_TABLE's, or every open migration's of this run when None."""
    env = environment(configuration)
    if side_table is None:
        tables = [f.heal_args["side_table"] for f in env.faults.open_faults(env.run_id)
                  if f.heal_action == "undo_bad_migration"]
        return {"undone": [_undo(env, table) for table in tables]}
    return _undo(env, side_table)


def _undo(env: Environment, side_table: str) -> dict:
    if not _SIDE_TABLE.match(side_table):
        raise ValueError(f"{side_table!r} is not a side table drillkit made")
    dsn = _settings(env).database.reveal()
    return heal(env, "undo_bad_migration", {"side_table": side_table}, lambda: _put_back(dsn, side_table))


@activity
def restore_point_in_time(
    timeout_s: float = 900, configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """The runbook for a destructive change: restore to the side by point-in-time recovery to the moment
    the change was issued, verify the copy, then repair production by copying back the ledger rows the
    change removed ("serving" = the repair committed). It gives up after TIMEOUT_S."""
    env = environment(configuration)
    with _recorded_if_failed(env, "restore_point_in_time", "point in time"):
        return _restore_point_in_time(env, timeout_s)


def _restore_point_in_time(env: Environment, timeout_s: float) -> dict:
    settings = _settings(env)
    dsn = settings.database.reveal()
    change = _migration(env)
    target = datetime.fromisoformat(change["t0_utc"])
    marker = str(change["marker"])
    plan = restore.Plan(mode="point in time", target_utc=target, present=(marker, 1), absent=(marker, 2),
                        writers=_writers(env), serve=lambda copy_dsn: _repair(copy_dsn, dsn), timeout_s=timeout_s)
    record = RestoreRecord(activity="restore_point_in_time", mode="point in time", t0_issued=change["t0_issued"],
                           t0_confirmed=change["t0_confirmed"], t0_utc=change["t0_utc"],
                           recovery_target=target.isoformat())
    return _restore(env, settings, record, plan, dsn)


@activity
def restore_from_backups(
    loss_after_backup_s: float | None = None, backup_wait_s: float | None = None, timeout_s: float = 900,
    configuration: Configuration = None, secrets: Secrets = None,
) -> dict:
    """The runbook for a lost primary and WAL archive: T0 declares both lost; the newest full backup and
    its incrementals are restored alone (no WAL past each backup's own), verified, compared with the
    ledger, and the copy takes writes ("serving"). A marker row is written, the next backup taken after
    it is awaited (BACKUP_WAIT_S at most; two incremental intervals by default), and the loss is declared
    LOSS_AFTER_BACKUP_S after that backup ended: by default the worst case the objective is about, just
    before the next backup is due (the loss that leaves the oldest newest backup). The record says where
    the loss was placed. The RPO is then the age of the newest backup. The restore gives up TIMEOUT_S
    after the loss."""
    env = environment(configuration)
    with _recorded_if_failed(env, "restore_from_backups", "backups only"):
        return _restore_from_backups(env, loss_after_backup_s, backup_wait_s, timeout_s)


def _restore_from_backups(env: Environment, loss_after_backup_s: float | None, backup_wait_s: float | None,
                          timeout_s: float) -> dict:
    settings = _settings(env)
    dsn = settings.database.reveal()
    interval = _incremental_every(settings)
    barman = _barman(settings)
    marker = f"{_MARKER_PREFIX}{uuid.uuid4().hex[:8]}"
    _write_marker(dsn, marker, 1)
    newest = _await_backup_after(barman, clock.now().utc, backup_wait_s or 2 * interval + 60)
    after, placement = _loss_placement(interval, loss_after_backup_s)
    _sleep_until(datetime.fromisoformat(newest.end_utc).timestamp() + after)
    issued = clock.now()
    _write_marker(dsn, marker, 2)  # the lost primary's last write: no backup holds it
    confirmed = clock.now()
    plan = restore.Plan(mode="backups only", target_utc=None, lost_utc=issued.utc, present=(marker, 1),
                        absent=(marker, 2),
                        writers=_writers(env), serve=lambda copy_dsn: _accept_write(copy_dsn, marker),
                        timeout_s=timeout_s)
    record = RestoreRecord(activity="restore_from_backups", mode="backups only", t0_issued=issued.monotonic,
                           t0_confirmed=confirmed.monotonic, t0_utc=issued.utc.isoformat(),
                           recovery_target="end of the newest backup", loss_placement=placement)
    return _restore(env, settings, record, plan, dsn)


@activity
def remove_restored_copy(name: str, configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Stop the restored copy NAME (and whatever still restores into it) and delete its folder."""
    env = environment(configuration)
    if not _COPY_NAME.match(name):
        raise ValueError(f"{name!r} is not a restored copy's name")
    copy = restore.copy_for(_settings(env), name)
    return heal(env, "remove_restored_copy", {"name": name}, lambda: restore.remove(copy))


# -- parts ------------------------------------------------------------------------------------------------

def _restore(env: Environment, settings: BackupSettings, record: RestoreRecord, plan: restore.Plan,
             dsn: str) -> dict:
    copy = restore.copy_for(settings, record.activity)
    recorder = restore.Recorder(_out_dir(env) / record_file(record.activity), record)
    recorder.update()

    def run() -> dict:
        done = restore.run(_barman(settings), copy, recorder, plan, dsn)
        return {"record": str(recorder.path), "backup_chain": done.backup_chain,
                "phases": [p.name for p in done.phases]}

    return inject(env, record.activity, (remove_restored_copy, {"name": record.activity}), run,
                  instance=copy.instance, copy=str(copy.folder))


@contextlib.contextmanager
def _recorded_if_failed(env: Environment, activity_name: str, mode: RestoreMode) -> Iterator[None]:
    """A restore that fails before its procedure writes a record (no backup to wait for, no destructive
    change to restore from) still leaves one, with its error: without it the run would hold no restore
    at all, and be judged as if none had been asked for."""
    try:
        yield
    except Exception as exc:
        path = _out_dir(env) / record_file(activity_name)
        if not path.exists():
            now = clock.now()
            durable.write_json(path, RestoreRecord(
                activity=activity_name, mode=mode, t0_issued=now.monotonic, t0_confirmed=now.monotonic,
                t0_utc=now.utc.isoformat(), recovery_target="", error=f"{type(exc).__name__}: {exc}",
                finished=True).model_dump(mode="json"))
        raise


def _settings(env: Environment) -> BackupSettings:
    if env.target.backups is None:
        raise ActivityFailed(f"target {env.target.name!r} has no backups: block (a backup server to restore from)")
    return env.target.backups


def _barman(settings: BackupSettings) -> Barman:
    return Barman.of(settings)


def _loss_placement(interval: float, chosen: float | None) -> tuple[float, str]:
    """Seconds after the newest backup's end to declare the loss at, and where that is, in words. The
    default is the worst case that can be declared for sure: just before the next backup is due (the
    scheduler takes it once the newest is SCHEDULE_MARGIN × the interval old)."""
    due = SCHEDULE_MARGIN * interval
    after = max(0.0, due - max(1.0, 0.05 * interval)) if chosen is None else chosen
    where = "the worst case" if chosen is None else "as the experiment chose"
    return after, (f"loss declared {after:.1f} s after the newest backup ended, {due - after:.1f} s before the next "
                   f"was due ({where})")


def _incremental_every(settings: BackupSettings) -> float:
    from drillkit.model.backup import load_policy

    return load_policy(Path(settings.policy)).scaled(settings.time_scale).incremental_every


def _out_dir(env: Environment) -> Path:
    """The run folder, as the measure control chooses it."""
    chosen = (env.configuration or {}).get(OUT_KEY) or os.environ.get(OUT_ENV)
    return Path(chosen) if chosen else paths.REPORTS / env.run_id


def _migration(env: Environment) -> dict[str, Any]:
    path = _out_dir(env) / MIGRATION_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ActivityFailed(f"{path}: no destructive change of this run to restore from (run bad_migration "
                             f"first): {exc}") from exc


def _writers(env: Environment) -> list[str]:
    """The session's ledger writers (the probe process's configuration), whose rows the copy must hold."""
    try:
        return list(json.loads((_out_dir(env) / CONFIG_FILE).read_text())["writers"])
    except (OSError, ValueError, KeyError):
        return []


def _write_marker(dsn: str, writer: str, seq: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO ledger (writer, seq) VALUES (%s, %s)", (writer, seq))


def _delete_most(dsn: str, side: str, fraction: float) -> dict:
    """In one transaction: keep the rows about to go in SIDE, then delete them from the ledger."""
    with psycopg.connect(dsn) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} AS SELECT * FROM ledger WHERE writer NOT LIKE %s AND random() < %s")
                     .format(sql.Identifier(side)), (_MARKER_PREFIX + "%", fraction))
        deleted = conn.execute(sql.SQL("DELETE FROM ledger l USING {} s WHERE l.writer = s.writer AND l.seq = s.seq")
                               .format(sql.Identifier(side))).rowcount
    return {"deleted": deleted}


def _put_back(dsn: str, side: str) -> dict:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (side,)).fetchone()
        exists = row is not None and row[0]
        if not exists:
            return {"put_back": 0, "note": f"{side} is gone already"}
        put_back = conn.execute(sql.SQL("INSERT INTO ledger SELECT * FROM {} ON CONFLICT DO NOTHING")
                                .format(sql.Identifier(side))).rowcount
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(side)))
    return {"put_back": put_back}


def _repair(copy_dsn: str, production_dsn: str) -> str:
    """Copy back to production every ledger row the copy holds and production lacks, in one transaction,
    which commits only once production is seen to hold every one of them ("serving" is observed, not
    assumed; the migration's side table, put back by the rollback, never stands in for it)."""
    with psycopg.connect(copy_dsn, autocommit=True) as source:
        rows = source.execute("SELECT writer, seq, written_at FROM ledger").fetchall()
    with psycopg.connect(production_dsn) as conn:
        conn.execute("CREATE TEMP TABLE drillkit_repair (LIKE ledger) ON COMMIT DROP")
        with conn.cursor().copy("COPY drillkit_repair (writer, seq, written_at) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        repaired = conn.execute("INSERT INTO ledger SELECT * FROM drillkit_repair ON CONFLICT DO NOTHING").rowcount
        answer = conn.execute("SELECT count(*) FROM drillkit_repair r WHERE NOT EXISTS "
                              "(SELECT 1 FROM ledger l WHERE l.writer = r.writer AND l.seq = r.seq)").fetchone()
        missing = int(answer[0]) if answer is not None else len(rows)
        if missing:
            raise ActivityFailed(f"the repair left production without {missing} ledger rows of the restored copy")
    return f"production repaired: {repaired} ledger rows copied back from the restored copy"


def _accept_write(copy_dsn: str, marker: str) -> str:
    with psycopg.connect(copy_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO ledger (writer, seq) VALUES (%s, 3)", (marker,))
    return "the restored copy accepted a write"


def _await_backup_after(barman: Barman, after: datetime, timeout_s: float):
    """The first finished backup that began after AFTER (so it holds what was committed before)."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = [b for b in barman.list_backups() if b.status == "DONE" and b.begin_utc and b.end_utc
                and datetime.fromisoformat(b.begin_utc) > after]
        if done:
            return done[-1]
        if time.monotonic() > deadline:
            raise ActivityFailed(f"no backup began after {after.isoformat()} within {timeout_s:.0f} s: is the "
                                 "backup server taking its scheduled backups?")
        time.sleep(2)


def _sleep_until(epoch: float) -> None:
    time.sleep(max(0.0, epoch - time.time()))
