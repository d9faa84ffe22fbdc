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
