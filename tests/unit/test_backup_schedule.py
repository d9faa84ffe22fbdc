"""The sandbox's backup server: which backup its loop takes when, what `backup status` calls the newest
restorable point, and how the sandbox configures Patroni and Barman for it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from drillkit.backup.barman import Barman, WalFile, parse_xlog_db
from drillkit.backup.scheduler import Scheduler, SchedulerSettings, due
from drillkit.backup.status import newest_restorable, wal_gaps
from drillkit.errors import BackupError
from drillkit.model.backup import BackupInfo
from drillkit.model.sandbox import SandboxConfig
from drillkit.sandbox import barman as backup_server
from drillkit.sandbox import patroni
from drillkit.sandbox.topology import Credentials, Paths, named, parts

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "barman"
NOW = 1_800_000_000.0
FULL_EVERY, INCREMENTAL_EVERY = 1440.0, 60.0


def backup(kind: str, age_s: float, status: str = "DONE", **fields) -> BackupInfo:
    end = datetime.fromtimestamp(NOW - age_s, UTC).isoformat()
    return BackupInfo(id=f"b{age_s:.0f}", kind=kind, status=status, end_utc=end, **fields)


def schedule(*catalogue: BackupInfo):
    return due(list(catalogue), NOW, FULL_EVERY, INCREMENTAL_EVERY)


def test_the_first_full_backup_is_taken_at_once():
    assert schedule() == "full"
    assert schedule(backup("full", 5, status="FAILED")) == "full"


def test_an_incremental_is_due_when_the_newest_backup_is_older_than_nine_tenths_of_its_interval():
    assert schedule(backup("full", 53)) is None
    assert schedule(backup("full", 55)) == "incremental"
    assert schedule(backup("full", 300), backup("incremental", 10)) is None


def test_a_full_is_due_when_the_newest_full_is_older_than_nine_tenths_of_its_interval():
    assert schedule(backup("full", 1297), backup("incremental", 1)) == "full"
    assert schedule(backup("full", 1200), backup("incremental", 1)) is None


class FailingBarman:
    def cron(self):
        raise BackupError("barman cron feedhub failed (exit 1): no leader")

    def list_backups(self):
        raise BackupError("barman list-backups feedhub failed (exit 1)")

    check = archived_duplicates = unfinished_on_disk = cron


def test_a_failed_barman_call_is_logged_and_the_loop_goes_on(tmp_path: Path):
    settings = SchedulerSettings(barman="b", config="c", server="feedhub", full_every_s=FULL_EVERY,
                                 incremental_every_s=INCREMENTAL_EVERY, heartbeat=str(tmp_path / "beat.json"))
    scheduler = Scheduler(settings, FailingBarman())  # type: ignore[arg-type]
    scheduler.tick()
    scheduler.tick()
    beat = json.loads((tmp_path / "beat.json").read_text())
    assert "list backups" in beat["last_error"] or "list-backups" in beat["last_error"]


def test_the_newest_restorable_point_is_the_last_wal_archived_without_a_gap_after_the_newest_backup():
    wal = parse_xlog_db((RECORDED / "xlog.db").read_text())
    incremental = BackupInfo(id="i", kind="incremental", status="DONE", begin_wal="00000001000000000000000D",
                             end_utc="2026-11-26T09:34:26+00:00")
    point, source = newest_restorable([incremental], wal)
    assert source == "WAL archive"
    assert point == datetime.fromtimestamp(wal[-1].archived_at, UTC).isoformat()


def test_a_gap_in_the_archive_cuts_the_restorable_point_short():
    wal = [WalFile(f"0000000100000000000000{n:02X}", 16, 1000.0 + n, "gpg") for n in (13, 14, 16)]
    start = BackupInfo(id="b", kind="full", status="DONE", begin_wal="00000001000000000000000D",
                       end_utc=datetime.fromtimestamp(1000.0, UTC).isoformat())
    point, _ = newest_restorable([start], wal)
    assert point == datetime.fromtimestamp(1014.0, UTC).isoformat()
    assert wal_gaps(wal) == ["after 00000001000000000000000E, next is 000000010000000000000010"]


def test_without_wal_after_it_the_newest_backup_end_is_the_restorable_point():
    only = BackupInfo(id="b", kind="full", status="DONE", begin_wal="000000010000000000000030",
                      end_utc="2026-11-26T09:34:26+00:00")
    assert newest_restorable([only], []) == ("2026-11-26T09:34:26+00:00", "newest backup")
    assert newest_restorable([], []) == (None, "nothing restorable")


def test_the_backup_server_is_a_part_only_when_backups_are_enabled():
    assert "backup" not in [part.name for part in parts(SandboxConfig())]
    with_backups = SandboxConfig().with_backups()
    assert named(with_backups, "backup").address == "127.0.30.1"
    assert with_backups.backups.barman.is_absolute() and with_backups.backups.policy.is_absolute()


def test_patroni_keeps_a_permanent_slot_for_the_backup_server_only_when_it_exists(tmp_path: Path):
    creds = Credentials("s", "r", "w", "a", "t", "b", "sb")
    plain, backed = SandboxConfig(), SandboxConfig().with_backups()
    member = named(plain, "pg-a")
    rendered = patroni.render(plain, Paths(tmp_path), member, creds)
    assert "slots" not in rendered["bootstrap"]["dcs"]
    assert rendered["postgresql"]["parameters"]["summarize_wal"] == "on"
    with_slot = patroni.render(backed, Paths(tmp_path), member, creds)
    assert with_slot["bootstrap"]["dcs"]["slots"] == {"barman": {"type": "physical"}}
    assert "host replication streaming_barman 127.0.0.0/8 scram-sha-256" in with_slot["postgresql"]["pg_hba"]


def test_barman_reaches_whichever_member_leads_and_encrypts_with_the_sandbox_key(tmp_path: Path):
    config = SandboxConfig(state_dir=tmp_path).with_backups()
    conf = backup_server.render_server_conf(config, Paths(tmp_path))
    assert ("conninfo = host=127.0.10.1,127.0.20.1 port=5432,5432 user=barman dbname=postgres "
            "target_session_attrs=read-write") in conf
    for line in ("slot_name = barman", "create_slot = manual", "encryption = gpg", "immediate_checkpoint = true",
                 f"staging_path = {tmp_path / 'backup' / 'staging'}"):
        assert line in conf.splitlines()
    assert "PGPASSWORD" not in conf


def test_the_sandbox_files_hold_their_secrets_unmasked_and_private(tmp_path: Path):
    config = SandboxConfig(state_dir=tmp_path).with_backups()
    creds = Credentials("s", "r", "w", "app-secret", "t", "barman-secret", "stream-secret")
    backup_server.write_files(config, Paths(tmp_path), creds, user=None)
    root = tmp_path / "backup"
    assert "barman-secret" in (root / "pgpass").read_text()
    assert "password=app-secret" in (root / "app.dsn").read_text()
    assert oct((root / "pgpass").stat().st_mode & 0o777) == "0o600"
    assert Barman(config.backups.barman, root / "barman.conf", "feedhub").environment()["PGPASSFILE"] == str(
        root / "pgpass")


# -- the runbook ---------------------------------------------------------------------------------------


class RunbookBarman:
    """A backup server as the scheduler sees it, recording what the runbook asked of it."""

    def __init__(self, catalogue: list[BackupInfo], wal: list[str], *, streaming: bool = True,
                 unfinished: list[tuple[str, str, str]] | None = None, duplicates: list[Path] | None = None):
        self.catalogue, self.wal, self.streaming = catalogue, wal, streaming
        self.unfinished, self.duplicates = unfinished or [], duplicates or []
        self.calls: list[str] = []

    def cron(self) -> None:
        self.calls.append("cron")

    def check(self) -> dict:
        return {"receive_wal_running": True if self.streaming else "FAILED: not running", "replication_slot": True}

    def receive_wal_reset(self) -> None:
        self.calls.append("reset")

    def archived_duplicates(self) -> list[Path]:
        return self.duplicates

    def unfinished_on_disk(self) -> list[tuple[str, str, str]]:
        return self.unfinished

    def delete(self, backup_id: str) -> None:
        self.calls.append(f"delete {backup_id}")
        self.unfinished = [u for u in self.unfinished if u[0] != backup_id]

    def list_backups(self) -> list[BackupInfo]:
        return self.catalogue

    def wal_files(self) -> list[WalFile]:
        return [WalFile(name, 16, 0.0, "gpg") for name in self.wal]

    def backup(self, incremental: bool = False) -> BackupInfo:
        self.calls.append("incremental" if incremental else "full")
        return BackupInfo(id="new", kind="incremental" if incremental else "full", status="DONE")


def ticked(barman: RunbookBarman, tmp_path: Path, ticks: int = 1) -> list[str]:
    settings = SchedulerSettings(barman="b", config="c", server="feedhub", full_every_s=FULL_EVERY,
                                 incremental_every_s=INCREMENTAL_EVERY, heartbeat=str(tmp_path / "beat.json"))
    scheduler = Scheduler(settings, barman)  # type: ignore[arg-type]
    for _ in range(ticks):
        scheduler.tick()
    return barman.calls


def due_incremental(timeline: int) -> list[BackupInfo]:
    """A catalogue whose next backup is an incremental: a full taken on TIMELINE 70 s ago."""
    end = datetime.fromtimestamp(datetime.now(UTC).timestamp() - 70, UTC).isoformat()
    return [BackupInfo(id="f", kind="full", status="DONE", end_utc=end, timeline=timeline)]


def test_after_a_failover_the_next_backup_is_a_full_one_not_an_incremental_across_the_switch(tmp_path):
    history = ["000000010000000000000003", "00000002.history", "000000020000000000000004"]
    assert ticked(RunbookBarman(due_incremental(timeline=1), history), tmp_path)[-1] == "full"
    assert ticked(RunbookBarman(due_incremental(timeline=2), history), tmp_path)[-1] == "incremental"


def test_a_backup_that_did_not_finish_is_removed_from_the_catalogue_before_the_next_is_taken(tmp_path, caplog):
    barman = RunbookBarman(due_incremental(timeline=1), [], unfinished=[("20261208T0300", "STARTED", "None")])
    with caplog.at_level("WARNING", logger="drillkit.backup.scheduler"):
        calls = ticked(barman, tmp_path)
    assert calls == ["cron", "delete 20261208T0300", "incremental"]
    assert "backup 20261208T0300 did not finish (status STARTED" in caplog.text


def test_plaintext_duplicates_of_archived_files_are_removed(tmp_path):
    duplicate = tmp_path / "00000002.history.20261208T000121Z.duplicate"
    duplicate.write_text("1\t0/3000000\tno recovery target specified\n")
    ticked(RunbookBarman(due_incremental(timeline=1), [], duplicates=[duplicate]), tmp_path)
    assert not duplicate.exists()


def test_wal_streaming_found_down_three_looks_in_a_row_is_reset_once(tmp_path):
    from drillkit.backup.scheduler import CHECK_EVERY, STUCK_TICKS

    calls = ticked(RunbookBarman([], [], streaming=False), tmp_path, ticks=CHECK_EVERY * STUCK_TICKS)
    assert calls.count("reset") == 1
    assert ticked(RunbookBarman([], [], streaming=True), tmp_path, ticks=CHECK_EVERY * STUCK_TICKS).count("reset") == 0


def test_the_barman_wrapper_finds_unfinished_records_and_archived_duplicates_on_disk(tmp_path):
    barman = Barman(Path("barman"), tmp_path / "barman.conf", "feedhub")
    barman.__dict__["storage_dir"] = tmp_path  # what `barman show-servers` would say
    (tmp_path / "meta").mkdir()
    (tmp_path / "errors").mkdir()
    for backup_id, status, end in (("A", "DONE", "2026-12-08 03:04:25+00:00"), ("B", "STARTED", "None"),
                                   ("C", "WAITING_FOR_WALS", "2026-12-08 03:05:00+00:00"), ("D", "DONE", "None"),
                                   ("E", "FAILED", "None")):
        (tmp_path / "meta" / f"{backup_id}-backup.info").write_text(f"status={status}\nend_time={end}\nerror=None\n")
    assert [found[0] for found in barman.unfinished_on_disk()] == ["B", "D", "E"]
    (tmp_path / "wals").mkdir()
    (tmp_path / "wals" / "feedhub-xlog.db").write_text("00000002.history\t507\t1.0\tNone\tgpg\n"
                                                       "000000020000000000000004\t16\t2.0\tNone\tgpg\n")
    for name in ("00000002.history.20261208T000121Z.duplicate", "000000020000000000000004.20261208T01Z.duplicate",
                 "00000003.history.20261208T000121Z.duplicate"):
        (tmp_path / "errors" / name).write_text("x")
    assert [p.name for p in barman.archived_duplicates()] == [
        "00000002.history.20261208T000121Z.duplicate", "000000020000000000000004.20261208T01Z.duplicate"]


def test_the_receiver_is_reset_even_when_it_is_not_running_to_be_stopped(monkeypatch):
    asked: list[list[str]] = []

    def run(self, args, **kwargs):
        asked.append(list(args))
        if "--stop" in args:  # what barman says in the crash loop after a lossy failover
            raise BackupError("barman receive-wal --stop feedhub failed (exit 1): ERROR: Termination of "
                              "receive-wal failed: no such process for server feedhub")
        return ""

    monkeypatch.setattr(Barman, "_run", run)
    Barman(Path("barman"), Path("barman.conf"), "feedhub").receive_wal_reset()
    assert asked[-1] == ["receive-wal", "--reset", "feedhub"]
