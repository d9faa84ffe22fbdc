"""The restore procedure's pure parts: which backup a restore starts from and its chain, where a copy
lives and how it is reached, what the server log proves, and a record written after every phase."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from pathlib import Path

import psutil
import pytest
from psycopg.conninfo import conninfo_to_dict

from drillkit.backup.restore import Copy, Recorder, chain_of, choose, copy_for, remove, wal_chain_check
from drillkit.errors import BackupError
from drillkit.model.backup import BackupInfo, RestoreRecord
from drillkit.model.target import BackupSettings, SecretRef


def backup(id_: str, end: str, kind: str = "full", parent: str | None = None, status: str = "DONE") -> BackupInfo:
    return BackupInfo(id=id_, kind=kind, status=status, end_utc=f"2026-11-26T{end}+00:00", parent=parent)


CATALOGUE = [backup("F1", "09:00:00"), backup("I1", "09:01:00", "incremental", "F1"),
             backup("I2", "09:02:00", "incremental", "I1"), backup("I3", "09:03:00", "incremental", "I2", "FAILED")]


def at(hms: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-26T{hms}+00:00")


def test_a_point_in_time_restore_starts_from_the_newest_finished_backup_that_ended_before_the_target():
    assert choose(CATALOGUE, at("09:01:30")).id == "I1"
    assert choose(CATALOGUE, at("09:05:00")).id == "I2"      # I3 failed


def test_a_restore_from_backups_alone_starts_from_the_newest_finished_backup():
    assert choose(CATALOGUE, None).id == "I2"


def test_no_backup_before_the_target_is_an_error_that_says_so():
    with pytest.raises(BackupError, match="ended before 2026-11-26T08:00:00"):
        choose(CATALOGUE, at("08:00:00"))


def test_the_chain_runs_from_the_full_backup_to_the_chosen_incremental():
    assert chain_of(CATALOGUE, CATALOGUE[2]) == ["F1", "I1", "I2"]
    assert chain_of(CATALOGUE, CATALOGUE[0]) == ["F1"]


def test_a_copy_lives_beside_barmans_configuration_and_is_reached_on_its_own_address(tmp_path: Path):
    settings = BackupSettings(barman=Path("barman"), barman_config=tmp_path / "backup" / "barman.conf",
                              server="feedhub", database=SecretRef(env="X"), restore_address="127.0.30.1",
                              restore_port=15440)
    copy = copy_for(settings, "restore_point_in_time")
    assert copy.folder == tmp_path / "backup" / "restores" / "restore_point_in_time"
    assert copy.log == tmp_path / "backup" / "restores" / "restore_point_in_time.log"
    reached = conninfo_to_dict(copy.conninfo(
        "host=127.0.10.1,127.0.20.1 port=5432,5432 user=feedhub password=secret-pass dbname=feedhub "
        "target_session_attrs=read-write"))
    assert (reached["host"], reached["port"], reached["user"], reached["dbname"]) == (
        "127.0.30.1", "15440", "feedhub", "feedhub")
    assert "target_session_attrs" not in reached           # the copy is alone: any session will do


def test_the_wal_chain_reached_a_point_in_time_target_when_recovery_stopped_before_a_later_commit():
    log = "LOG:  consistent recovery state reached\nLOG:  recovery stopping before commit of transaction 773\n"
    assert wal_chain_check(log, point_in_time=True).ok
    assert not wal_chain_check("LOG:  consistent recovery state reached\n", point_in_time=True).ok


def test_a_wal_gap_before_the_target_fails_the_chain_check():
    log = ("LOG:  recovery stopping before commit of transaction 9\n"
           "FATAL:  recovery ended before configured recovery target was reached\n")
    assert "WAL gap" in wal_chain_check(log, point_in_time=True).detail


def test_a_restore_from_backups_alone_must_reach_consistency():
    assert wal_chain_check("LOG:  consistent recovery state reached at 0/5000100\n", point_in_time=False).ok
    assert not wal_chain_check("LOG:  starting archive recovery\n", point_in_time=False).ok


def test_the_record_is_on_disk_after_every_phase(tmp_path: Path):
    path = tmp_path / "restore-restore_point_in_time.json"
    recorder = Recorder(path, RestoreRecord(activity="restore_point_in_time", mode="point in time", t0_issued=1.0,
                                            t0_confirmed=2.0, t0_utc="2026-11-26T10:00:00+00:00",
                                            recovery_target="2026-11-26T10:00:00+00:00"))
    recorder.phase("restore started", 3.0, 3.5)
    assert [p["name"] for p in json.loads(path.read_text())["phases"]] == ["restore started"]
    recorder.phase("base backup restored", 3.5, 9.0)
    on_disk = RestoreRecord.model_validate_json(path.read_text())
    assert [p.name for p in on_disk.phases] == ["restore started", "base backup restored"] and not on_disk.finished



def test_removing_a_copy_stops_what_still_works_in_its_folder_and_deletes_it(tmp_path: Path):
    folder = tmp_path / "restores" / "restore_point_in_time"
    (folder / "base").mkdir(parents=True)
    restoring = subprocess.Popen(["sleep", "60"], cwd=folder)  # a barman restore, rsync, a postmaster …
    try:
        removed = remove(Copy(folder, "127.0.30.1", 15440, None))
        still_running = restoring.poll() is None and psutil.Process(restoring.pid).status() != psutil.STATUS_ZOMBIE
    finally:
        restoring.kill()
    assert not still_running
    assert removed["killed"] == [restoring.pid] and removed["removed"] and not folder.exists()


def test_removing_a_copy_that_is_gone_is_harmless(tmp_path: Path):
    removed = remove(Copy(tmp_path / "restores" / "never", "127.0.30.1", 15440, None))
    assert removed["removed"] is False and removed["killed"] == []


class _Answer:
    """A fake connection answering pg_is_in_recovery() with IN_RECOVERY."""

    def __init__(self, in_recovery: bool) -> None:
        self.in_recovery = in_recovery

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def execute(self, query: str):
        return self

    def fetchone(self):
        return (self.in_recovery,)


def test_a_poll_that_could_not_reach_the_copy_does_not_raise_the_replayed_phases_lower_bound(monkeypatch, tmp_path):
    """The copy answers "in recovery" at 10, cannot be reached at 20 (it may have promoted already), and
    answers "promoted" at 30: the last instant known to be before the promotion is 10, not 20."""
    import psycopg

    from drillkit.backup import restore
    from drillkit.backup.restore import Deadline, _wait_promoted
    from drillkit.clock import Instant

    answers = iter([_Answer(True), psycopg.OperationalError("connection timed out"), _Answer(False)])
    times = iter([10.0, 20.0, 30.0, 31.0, 32.0, 33.0])

    def connect(*args, **kwargs):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(restore.psycopg, "connect", connect)
    monkeypatch.setattr(restore.clock, "now", lambda: Instant(next(times)))
    monkeypatch.setattr(restore.time, "sleep", lambda s: None)
    copy = Copy(tmp_path / "copy", "127.0.30.1", 15440, None)
    lower, upper = _wait_promoted(copy, "host=127.0.30.1", Deadline(1e9), not_before=5.0)
    assert lower == 10.0
    assert upper >= 30.0


class _Catalogue:
    """A fake connection to a copy whose tables hold COUNTS rows."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.rows: list = []

    def execute(self, query: str, params=None):
        if "pg_stat_user_tables" in query:
            self.rows = [(name,) for name in sorted(self.counts)]
        else:
            self.rows = [(self.counts[query.split('"')[1]],)]
        return self

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0]


def test_the_table_read_check_fails_on_a_copy_whose_ledger_is_empty():
    from drillkit.backup.restore import _row_counts

    assert _row_counts(_Catalogue({"ledger": 120, "posts": 3})).ok
    assert not _row_counts(_Catalogue({"ledger": 0, "posts": 3})).ok


def test_a_restore_from_backups_alone_never_starts_from_a_backup_that_ended_after_the_loss():
    assert choose(CATALOGUE, None, ended_before=at("09:01:30")).id == "I1"


def test_a_copy_is_dead_only_after_a_fatal_of_its_own_not_after_refusing_a_poll_while_it_starts(tmp_path):
    from drillkit.backup.restore import _died

    copy = Copy(tmp_path / "copy", "127.0.30.1", 5440, None)
    copy.folder.mkdir()
    copy.log.write_text("LOG:  starting PostgreSQL 18\nFATAL:  the database system is starting up\n"
                        "FATAL:  the database system is not yet accepting connections\n")
    assert not _died(copy)  # our own polls were refused; no postmaster.pid yet proves nothing
    copy.log.write_text(copy.log.read_text() + "FATAL:  could not locate required checkpoint record\n")
    assert _died(copy)
    (copy.folder / "postmaster.pid").write_text("1\n")
    assert not _died(copy)  # it still runs


def test_each_start_of_a_copy_has_a_log_of_its_own(tmp_path, monkeypatch):
    from drillkit.backup import restore

    copy = Copy(tmp_path / "copy", "127.0.30.1", 5440, None)
    copy.log.write_text("FATAL:  an earlier restore's death\n")
    monkeypatch.setattr(restore, "_as_user", lambda copy, argv, timeout: subprocess.CompletedProcess(argv, 0))
    restore._start(copy)
    assert copy.log.read_text() == ""
