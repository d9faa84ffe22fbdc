"""The barman wrapper: the command lines it runs, the environment it runs them in, and how it reads
barman's JSON. The answers in tests/fixtures/barman were recorded from barman 3.19.1 on a GPG-encrypted
server (pg18enc: one full backup and one incremental on top of it)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from drillkit.backup.barman import Barman, parse_backup_info_file, parse_check, parse_list_backups, parse_xlog_db
from drillkit.errors import BackupError, DrillkitError

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "barman"
SERVER = "pg18enc"
FULL, INCREMENTAL = "20261126T093406", "20261126T093425"


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


class FakeBarman:
    """An executable that logs each call (argv and environment) and answers with a recorded output,
    chosen by the barman subcommand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.answers = root / "answers"
        self.answers.mkdir()
        self.calls = root / "calls.jsonl"
        self.executable = root / "bin" / "barman"
        self.executable.parent.mkdir()
        self.executable.write_text(
            "#!/usr/bin/env python3\n"
            "import json, os, sys, pathlib\n"
            f"root = pathlib.Path({str(root)!r})\n"
            "args = sys.argv[1:]\n"
            "with open(root / 'calls.jsonl', 'a') as log:\n"
            "    log.write(json.dumps({'argv': args, 'env': dict(os.environ)}) + '\\n')\n"
            "sub = next(a for a in args[2:] if not a.startswith('-') and a != 'json')\n"
            "answer = root / 'answers' / sub\n"
            "code = root / 'answers' / (sub + '.exit')\n"
            "sys.stdout.write(answer.read_text() if answer.exists() else '')\n"
            "sys.exit(int(code.read_text()) if code.exists() else 0)\n"
        )
        self.executable.chmod(0o755)

    def answer(self, subcommand: str, text: str, exit_code: int = 0) -> None:
        (self.answers / subcommand).write_text(text)
        (self.answers / f"{subcommand}.exit").write_text(str(exit_code))

    def argv(self) -> list[list[str]]:
        return [json.loads(line)["argv"] for line in self.calls.read_text().splitlines()]

    def last_env(self) -> dict[str, str]:
        return json.loads(self.calls.read_text().splitlines()[-1])["env"]


@pytest.fixture
def fake(tmp_path: Path) -> FakeBarman:
    return FakeBarman(tmp_path)


@pytest.fixture
def barman(fake: FakeBarman, tmp_path: Path) -> Barman:
    state = tmp_path / "backup"
    (state / "gnupg").mkdir(parents=True)
    (state / "pgpass").write_text("*:*:*:barman:secret\n")
    storage = tmp_path / "storage"
    (storage / "meta").mkdir(parents=True)
    (storage / "wals").mkdir()
    (storage / "meta" / f"{FULL}-backup.info").write_text(recorded("full-backup.info"))
    (storage / "meta" / f"{INCREMENTAL}-backup.info").write_text(recorded("incremental-backup.info"))
    fake.answer("show-servers", json.dumps({SERVER: {"backup_directory": str(storage)}}))
    fake.answer("list-backups", recorded("list-backups.json"))
    return Barman(fake.executable, state / "barman.conf", SERVER, run_as=None)


def test_the_catalogue_is_listed_oldest_first_with_each_incrementals_parent():
    backups = parse_list_backups(json.loads(recorded("list-backups.json")), SERVER)
    assert [(b.id, b.kind, b.status) for b in backups] == [(FULL, "full", "DONE"),
                                                           (INCREMENTAL, "incremental", "DONE")]
    assert backups[1].end_utc == "2026-11-26T09:34:26+00:00"
    assert backups[1].size_bytes == 23112538


def test_a_backup_info_file_gives_the_parent_timeline_wal_range_and_encryption():
    details = parse_backup_info_file(recorded("incremental-backup.info"))
    assert details == {"begin_utc": "2026-11-26T09:34:25.073856+00:00",
                       "end_utc": "2026-11-26T09:34:26.087253+00:00", "parent": FULL, "timeline": 1,
                       "begin_wal": "00000001000000000000000D", "end_wal": "00000001000000000000000D",
                       "encrypted": True}
    assert parse_backup_info_file(recorded("full-backup.info"))["parent"] is None


def test_list_backups_joins_barmans_list_with_each_backups_record(barman: Barman, fake: FakeBarman):
    full, incremental = barman.list_backups()
    assert incremental.parent == full.id and incremental.encrypted and incremental.timeline == 1
    assert ["-f", "json", "list-backups", SERVER] in [argv[2:] for argv in fake.argv()]


def test_check_maps_passed_checks_to_true_and_failed_ones_to_barmans_hint():
    checks = parse_check(json.loads(recorded("check-failing.json")), SERVER)
    assert checks["archiver_errors"] is True
    assert checks["replication_slot"] == ("FAILED: replication slot 'barman_pg18enc' doesn't exist. "
                                          "Please execute 'barman receive-wal --create-slot pg18enc'")


def test_a_failing_barman_check_is_an_answer_not_an_error(barman: Barman, fake: FakeBarman):
    fake.answer("check", recorded("check-failing.json"), exit_code=1)
    assert barman.check()["postgresql"] == "FAILED"


def test_the_wal_catalogue_lists_every_archived_file_with_its_encryption():
    files = parse_xlog_db(recorded("xlog.db"))
    assert files[0].name == "000000010000000000000008" and files[-1].name == "000000010000000000000013"
    assert len(files) == 12 and all(f.encryption == "gpg" for f in files)


def test_an_incremental_backup_builds_on_the_newest_finished_backup(barman: Barman, fake: FakeBarman):
    with pytest.raises(BackupError, match="no new backup"):  # the recorded list does not grow
        barman.backup(incremental=True)
    backup_call = next(argv for argv in fake.argv() if "backup" in argv)
    assert backup_call[2:] == ["backup", "--wait", "--incremental", INCREMENTAL, SERVER]


def test_a_point_in_time_restore_follows_the_newest_timeline_and_stages_beside_the_config(
        barman: Barman, fake: FakeBarman, tmp_path: Path):
    barman.restore(FULL, tmp_path / "copy", target_time="2026-11-26 09:34:32+00:00", target_action="promote")
    argv = fake.argv()[-1]
    assert shlex.join(argv[2:]) == shlex.join([
        "restore", "--staging-location", "local", "--staging-path", str(barman.state_dir / "staging"),
        "--target-time", "2026-11-26 09:34:32+00:00", "--target-tli", "latest", "--target-action", "promote",
        SERVER, FULL, str(tmp_path / "copy")])


def test_an_immediate_restore_asks_for_no_wal_beyond_the_backup(barman: Barman, fake: FakeBarman, tmp_path: Path):
    barman.restore(INCREMENTAL, tmp_path / "copy", immediate=True)
    argv = fake.argv()[-1]
    assert "--target-immediate" in argv and "--target-tli" not in argv and "--target-time" not in argv


def test_barman_never_sees_pgpassword_and_finds_its_passfile_and_key(barman: Barman, fake: FakeBarman,
                                                                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PGPASSWORD", "would-override-the-passfile")
    barman.cron()
    env = fake.last_env()
    assert "PGPASSWORD" not in env
    assert env["PGPASSFILE"] == str(barman.state_dir / "pgpass")
    assert env["GNUPGHOME"] == str(barman.state_dir / "gnupg")
    assert env["HOME"] == str(barman.state_dir)
    assert fake.argv()[-1] == ["-c", str(barman.config), "cron"]


def test_a_failed_command_is_named_with_the_last_lines_of_its_output(barman: Barman, fake: FakeBarman):
    fake.answer("show-backup", recorded("error-unknown-backup.json"), exit_code=1)
    with pytest.raises(BackupError) as failure:
        barman.show("nonexist")
    message = str(failure.value)
    assert message.startswith(f"barman show-backup {SERVER} nonexist failed (exit 1)")
    assert "Unknown backup 'nonexist'" in message
    assert isinstance(failure.value, DrillkitError)


def test_show_returns_barmans_json_for_the_backup(barman: Barman, fake: FakeBarman):
    fake.answer("show-backup", recorded("show-backup-incremental.json"))
    shown = barman.show(INCREMENTAL)
    assert shown["catalog_information"]["parent_backup_id"] == FULL
    assert shown["base_backup_information"]["encryption"] == "gpg"


def test_status_maps_each_item_to_barmans_message(barman: Barman, fake: FakeBarman):
    fake.answer("status", recorded("status.json"))
    assert barman.status()["last_backup"] == INCREMENTAL


def test_the_storage_dir_is_the_servers_backup_directory(barman: Barman, tmp_path: Path):
    assert barman.storage_dir == tmp_path / "storage"


def test_stopping_wal_streaming_and_switching_wal_name_the_server(barman: Barman, fake: FakeBarman):
    barman.receive_wal_stop()
    barman.switch_wal()
    assert fake.argv()[-2][2:] == ["receive-wal", "--stop", SERVER]
    assert fake.argv()[-1][2:] == ["switch-wal", "--force", "--archive", "--archive-timeout", "60", SERVER]


def test_a_missing_barman_is_a_backup_error(tmp_path: Path):
    with pytest.raises(BackupError, match="could not start"):
        Barman(tmp_path / "nope", tmp_path / "barman.conf", SERVER).cron()


def test_a_targets_relative_paths_are_made_absolute_since_barman_runs_in_another_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from drillkit.model.secrets import SecretRef
    from drillkit.model.target import BackupSettings

    monkeypatch.chdir(tmp_path)
    settings = BackupSettings(barman=Path(".venv/barman/bin/barman"), barman_config=Path("backup/barman.conf"),
                              server="feedhub", database=SecretRef(file=Path("app.dsn")))
    barman = Barman.of(settings)
    assert barman.executable == tmp_path / ".venv/barman/bin/barman"
    assert barman.config == tmp_path / "backup/barman.conf"
