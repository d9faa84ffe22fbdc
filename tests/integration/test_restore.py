"""Restores on the real sandbox with its backup server: a point-in-time restore after a destructive
migration brings back every acknowledged write before its target and none after it, and a restore drill
killed with SIGKILL mid-restore is cleaned up by `drillkit recover` (no copy running, no folder left)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from drillkit.backup.barman import Barman
from drillkit.faultlog import FaultLog
from drillkit.model.backup import RestoreRecord
from drillkit.model.target import load_target

from .conftest import BARMAN, RESTORE_PORT, ROOT, drillkit, wait_until

EXPERIMENT = ROOT / "experiments" / "bad-migration-restore.yaml"
FIRST_BACKUP_WAIT_S = 180
SHORT = ("--var", "stable_window=3", "--var", "recovery_timeout=60")


@pytest.fixture(scope="module")
def a_backup(sandbox) -> None:
    """The scheduler's first finished backup: what a point-in-time restore starts from."""
    barman = Barman(BARMAN, sandbox.backup_dir / "barman.conf", "feedhub",
                    run_as="drillkit-backup" if os.geteuid() == 0 else None)
    wait_until(lambda: any(b.status == "DONE" for b in barman.list_backups()), FIRST_BACKUP_WAIT_S,
               "a finished backup")


def _copy_folder(sandbox) -> Path:
    return sandbox.backup_dir / "restores" / "restore_point_in_time"


def _copy_listening() -> bool:
    return any(c.laddr and c.laddr.ip == "127.0.30.1" and c.laddr.port == RESTORE_PORT
               and c.status == psutil.CONN_LISTEN for c in psutil.net_connections("tcp"))


def test_a_point_in_time_restore_holds_every_write_acknowledged_before_its_target_and_none_after(
        sandbox, target_file, a_backup, tmp_path):
    out = tmp_path / "run"
    run = drillkit("run", str(EXPERIMENT), "--target", str(target_file), "--out", str(out), *SHORT,
                   check=False, timeout=900)
    assert run.returncode in (0, 1), run.stderr[-3000:]
    record = RestoreRecord.model_validate_json((out / "restore-restore_point_in_time.json").read_text())
    assert record.finished and record.error is None, record.error
    assert [c.name for c in record.checks if not c.ok] == [], record.checks
    [restore] = json.loads((out / "measurements.json").read_text())["restores"]
    assert restore["status"] == "measured", restore["reason"]
    assert restore["rpo"]["acknowledged"] > 50 and restore["rpo"]["lost"] == 0, restore["rpo"]  # 10 s of writes
    assert restore["newest_recovered_before_t0_s"] < 1.0   # the copy holds the writes up to the migration
    assert restore["after_target_present"] == 0 and restore["after_target_absent"] > 0
    assert restore["rto"]["lower"] > 0 and [p["name"] for p in restore["phases"]][-1] == "serving"
    assert not _copy_folder(sandbox).exists() and not _copy_listening()  # the rollback removed the copy
    assert FaultLog(load_target(target_file).fault_log).open_faults() == []


def test_a_restore_drill_killed_mid_restore_is_cleaned_up_by_recover(sandbox, target_file, a_backup, tmp_path):
    out = tmp_path / "killed"
    record_file = out / "restore-restore_point_in_time.json"
    killed = subprocess.Popen([sys.executable, "-m", "drillkit", "run", str(EXPERIMENT), "--target",
                               str(target_file), "--out", str(out), *SHORT],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _reached(record_file, "base backup restored") or killed.poll() is not None, 300,
                   "the restore to have restored its base backup")
        assert killed.poll() is None, "the run ended before it could be killed mid-restore"
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    assert _copy_folder(sandbox).exists()

    recovered = drillkit("recover", "--target", str(target_file), check=False, timeout=300)

    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert not _copy_folder(sandbox).exists()
    wait_until(lambda: not _copy_listening(), 30, "the restored copy to stop listening")
    assert FaultLog(load_target(target_file).fault_log).open_faults() == []
    wait_until(lambda: sandbox.status()["healthy"], 120, "the sandbox to be healthy again")


def _reached(path: Path, phase: str) -> bool:
    try:
        record = RestoreRecord.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return False
    return any(p.name == phase for p in record.phases)
