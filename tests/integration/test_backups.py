"""The sandbox's backup server: Barman on the witness address takes a full and then an incremental
backup on its own schedule (the policy run 60 times faster: an incremental every minute), encrypted at
rest, and `drillkit backup status` lists them.

`barman verify-backup` cannot verify these backups: it hands pg_verifybackup the encrypted
base.tar.gz.gpg, which pg_verifybackup cannot read (barman 3.19.1). Proving encrypted backups sound is the
policy check's job (a restore test); here they are listed, DONE, chained, and encrypted on disk.
"""

from __future__ import annotations

import json
import os
import time

import psutil
import pytest

from drillkit.backup.barman import Barman

from .conftest import BARMAN, drillkit, wait_until

INCREMENTAL_WAIT_S = 120  # the schedule's incremental is due 54 s after the full, then one cron tick


@pytest.fixture(scope="module")
def barman(sandbox) -> Barman:
    return Barman(BARMAN, sandbox.backup_dir / "barman.conf", "feedhub",
                  run_as="drillkit-backup" if os.geteuid() == 0 else None)


@pytest.fixture(scope="module")
def chain(barman):
    """The scheduler's first full backup and the first incremental built on it."""
    found: dict = {}

    def taken() -> bool:
        done = [info for info in barman.list_backups() if info.status == "DONE"]
        fulls = [info for info in done if info.kind == "full"]
        incrementals = [info for info in done if info.kind == "incremental"]
        if fulls and incrementals:
            found.update(full=fulls[0], incremental=incrementals[0])
        return bool(found)

    wait_until(taken, INCREMENTAL_WAIT_S, "a full and an incremental backup")
    return found["full"], found["incremental"]


def test_the_backup_server_runs_as_its_own_user_and_is_healthy(sandbox):
    part = sandbox.part("backup")
    assert part["healthy"], part
    assert part["address"] == "127.0.30.1"
    if os.geteuid() == 0:
        assert psutil.Process(part["pid"]).username() == "drillkit-backup"


def test_barman_streams_wal_from_the_leader_through_the_permanent_slot(barman):
    wait_until(lambda: barman.check().get("receive_wal_running") is True, 30, "barman receive-wal to run")
    checks = barman.check()
    assert checks["replication_slot"] is True, checks
    assert checks["encryption"] is True, checks


def test_a_full_then_an_incremental_backup_are_taken_and_the_incremental_builds_on_the_full(chain):
    full, incremental = chain
    assert (full.status, incremental.status) == ("DONE", "DONE")
    assert incremental.parent == full.id
    assert full.encrypted and incremental.encrypted


def test_the_backups_are_stored_encrypted(chain, barman):
    for info in chain:
        files = sorted(path.name for path in (barman.storage_dir / "base" / info.id / "data").iterdir())
        assert files == ["backup_manifest", "base.tar.gz.gpg"], files
    archived = barman.wal_files()
    assert archived and all(wal.encryption == "gpg" for wal in archived)


def test_backup_status_lists_the_backups_and_a_restorable_point(chain, target_file):
    full, incremental = chain
    result = drillkit("backup", "status", "--target", str(target_file), "--json", check=False)
    assert result.returncode in (0, 1), result.stderr
    status = json.loads(result.stdout)
    listed = {backup["id"]: backup for backup in status["backups"]}
    assert listed[incremental.id]["parent"] == full.id
    assert listed[full.id]["kind"] == "full" and listed[incremental.id]["kind"] == "incremental"
    assert status["newest_restorable_utc"] >= incremental.end_utc
    assert status["check"]["replication_slot"] is True
    quick_rules = {item["name"] for item in status["policy"]["items"]}
    assert quick_rules == {"newest full", "newest incremental", "WAL continuity", "restorable point", "WAL stream",
                           "retention"}, "status judges the quick rules; backup check verifies and scans too"


def test_the_scheduler_logs_each_backup_with_its_duration(chain, sandbox):
    log = (sandbox.state_dir / "logs" / "backup.log").read_text()
    full, incremental = chain
    assert f"full backup {full.id} DONE in " in log
    assert f"incremental backup {incremental.id} DONE in " in log


def test_sandbox_down_leaves_no_wal_receiver_behind(sandbox, chain):
    """Last: stopping and starting the sandbox again must not leave pg_receivewal running."""
    sandbox.down()
    started = time.monotonic()
    leftovers = [proc.info for proc in psutil.process_iter(["pid", "name", "cmdline"])
                 if str(sandbox.state_dir) in " ".join(proc.info["cmdline"] or [])]
    sandbox.up()
    assert leftovers == [], leftovers
    assert time.monotonic() - started < 120
