"""The one place that runs the barman CLI.

Barman lives in a virtualenv of its own (it needs psycopg2; drillkit uses psycopg 3) and is driven as a
command, `barman -c CONFIG -f json ...`, whose JSON is parsed into drillkit's models. Under root it runs
as its service user. Its environment never holds PGPASSWORD: libpq lets that one password override the
passfile for every host and role, so barman's two logins (`barman`, `streaming_barman`) would fail.

Files that sit beside the configuration are found by convention (the sandbox writes them there; a real
backup server may do the same): `gnupg/` becomes GNUPGHOME (the key that encrypts the backups) and
`pgpass` becomes PGPASSFILE.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from drillkit.errors import BackupError
from drillkit.model.backup import BackupInfo
from drillkit.model.target import BackupSettings

__all__ = ["Barman", "WalFile", "parse_backup_info_file", "parse_check", "parse_list_backups"]

QUICK_S = 120.0          # status, list, check, cron: barman answers in well under a second
LONG_S = 3600.0          # a backup or a restore of a large database
TAIL_LINES = 8           # how much of barman's output an error quotes
# Variables that would change whom barman logs in as, or with what password, behind its back.
_DROPPED_ENV = ("PGPASSWORD", "PGUSER", "PGHOST", "PGPORT", "PGDATABASE", "PGSERVICE", "PGSERVICEFILE")

TargetAction = Literal["pause", "promote", "shutdown"]
UNFINISHED = ("", "STARTED", "FAILED", "EMPTY")  # barman's statuses of a backup that did not finish


@dataclass(frozen=True)
class WalFile:
    """One archived WAL file, as barman's WAL catalogue (xlog.db) lists it."""

    name: str
    size_bytes: int
    archived_at: float  # epoch seconds
    encryption: str | None


class Barman:
    """barman for one server (`feedhub`) of one configuration file."""

    def __init__(self, executable: Path, config: Path, server: str, run_as: str | None = None) -> None:
        self.executable = Path(executable)
        self.config = Path(config)
        self.server = server
        self.run_as = run_as

    @classmethod
    def of(cls, settings: BackupSettings) -> Barman:
        """The backup server a target names; its paths, relative to where drillkit runs, made absolute
        (barman runs in another folder, as another user)."""
        return cls(Path(settings.barman).absolute(), Path(settings.barman_config).absolute(), settings.server,
                   settings.run_as)

    # -- commands ------------------------------------------------------------------------------------

    def cron(self) -> None:
        """Start WAL streaming when it is down, and move (and encrypt) received WAL into the archive."""
        self._run(["cron"])

    def backup(self, incremental: bool = False) -> BackupInfo:
        """Take a backup and wait for the WAL it needs to be archived. An incremental builds on the
        newest finished backup."""
        argv = ["backup", "--wait"]
        if incremental:
            parent = self.newest_done()
            if parent is None:
                raise BackupError(f"barman backup --incremental {self.server}: there is no finished backup "
                                  "to build on; take a full backup first")
            argv += ["--incremental", parent.id]
        before = {info.id for info in self.list_backups()}
        self._run([*argv, self.server], timeout_s=LONG_S)
        made = [info for info in self.list_backups() if info.id not in before]
        if not made:
            raise BackupError(f"barman {' '.join(argv)} {self.server} succeeded but no new backup is listed")
        return made[-1]

    def list_backups(self) -> list[BackupInfo]:
        """The catalogue, oldest first (barman lists newest first). The parent, begin time, timeline and
        WAL range come from each backup's backup.info, barman's own record of it: asking
        `show-backup` for each would cost a barman start per backup."""
        listed = parse_list_backups(self._json(["list-backups", self.server]), self.server)
        return [self._with_details(info) for info in listed]

    def newest_done(self) -> BackupInfo | None:
        done = [info for info in self.list_backups() if info.status == "DONE"]
        return done[-1] if done else None

    def show(self, backup_id: str) -> dict[str, Any]:
        """`barman show-backup` of one backup, as barman's JSON says it."""
        return self._json(["show-backup", self.server, backup_id])[self.server]

    def check(self) -> dict[str, bool | str]:
        """`barman check`: each check's name (as barman spells it, e.g. "replication_slot") mapped to True
        when it passed, else to the reason barman gives (a non-empty string: "FAILED: <hint>").
        A failing check is an answer, not an error."""
        return parse_check(self._json(["check", self.server], ok_codes=(0, 1)), self.server)

    def verify(self, backup_id: str) -> str:
        """`barman verify-backup` (pg_verifybackup). It cannot read GPG-encrypted backups: barman 3.19.1
        hands pg_verifybackup the .tar.gz.gpg as it is, and it fails."""
        return self._run(["verify-backup", self.server, backup_id], timeout_s=LONG_S)

    def switch_wal(self, archive: bool = True) -> None:
        """Close the current WAL segment (forcing a checkpoint) and, with ARCHIVE, wait until one segment
        is archived."""
        argv = ["switch-wal", "--force"] + (["--archive", "--archive-timeout", "60"] if archive else [])
        self._run([*argv, self.server])

    def receive_wal_stop(self) -> None:
        """Stop the background `barman receive-wal` (and its pg_receivewal)."""
        self._run(["receive-wal", "--stop", self.server])

    def receive_wal_reset(self) -> None:
        """Stop `barman receive-wal` and reset its position to the server's current WAL (the next `barman
        cron` starts it again from there): the runbook's step when streaming is stuck behind a failover
        (pg_receivewal asks for a point on a timeline the new leader forked from earlier, fails, and cron
        starts it again, over and over). In that loop it is mostly not running: nothing to stop then."""
        with contextlib.suppress(BackupError):
            self.receive_wal_stop()
        self._run(["receive-wal", "--reset", self.server])

    def delete(self, backup_id: str) -> None:
        """Remove one backup from the catalogue and the storage (`barman delete`); when barman cannot (a
        backup it left half-written can break its own commands), its record and files directly."""
        try:
            self._run(["delete", self.server, backup_id], timeout_s=LONG_S)
        except BackupError:
            (self.storage_dir / "meta" / f"{backup_id}-backup.info").unlink(missing_ok=True)
            shutil.rmtree(self.storage_dir / "base" / backup_id, ignore_errors=True)

    def unfinished_on_disk(self) -> list[tuple[str, str, str]]:
        """(id, status, error) of every backup whose record on disk says it failed or never finished
        (FAILED, STARTED, EMPTY, or DONE without an end time; WAITING_FOR_WALS is a finished copy whose WAL
        is on its way): read from the files, since such a record can make `list-backups` fail. Only
        meaningful while no backup runs."""
        found = []
        for path in sorted((self.storage_dir / "meta").glob("*-backup.info")):
            value = _backup_info_values(path.read_text(errors="replace"))
            status = value.get("status") or ""
            if status in UNFINISHED or (status == "DONE" and value.get("end_time") is None):
                found.append((path.name.removesuffix("-backup.info"), status, str(value.get("error"))))
        return found

    def archived_duplicates(self) -> list[Path]:
        """Files barman set aside in errors/ as duplicates (`NAME.TIMESTAMP.duplicate`) of a WAL or
        history file the archive already holds: plaintext copies of what the archive keeps encrypted."""
        archived = {wal.name for wal in self.wal_files()}
        errors = self.storage_dir / "errors"
        return sorted(path for path in errors.glob("*.duplicate") if path.name.split(".")[0] in archived
                      or ".".join(path.name.split(".")[:2]) in archived)

    def status(self) -> dict[str, str]:
        """`barman status`: each item's name mapped to barman's message."""
        data = self._json(["status", self.server])[self.server]
        return {name: str(item.get("message", "")) for name, item in data.items()}

    def restore(self, backup_id: str, dest: Path, *, target_time: str | None = None, immediate: bool = False,
                target_tli_latest: bool = True, target_action: TargetAction | None = None) -> None:
        """Restore BACKUP_ID (with its incremental chain, combined by pg_combinebackup) into DEST on this
        host, decrypting in a staging folder beside the configuration. TARGET_TIME recovers to that
        instant; IMMEDIATE stops as soon as the copy is consistent (no WAL past the backup's own)."""
        if target_time and immediate:
            raise BackupError("barman restore: give a target time or an immediate target, not both")
        argv = ["restore", "--staging-location", "local", "--staging-path", str(self.staging_dir)]
        argv += ["--target-time", target_time] if target_time else []
        argv += ["--target-immediate"] if immediate else []
        argv += ["--target-tli", "latest"] if target_tli_latest and not immediate else []
        argv += ["--target-action", target_action] if target_action else []
        self._run([*argv, self.server, backup_id, str(dest)], timeout_s=LONG_S)

    def wal_files(self) -> list[WalFile]:
        """Every archived WAL file, oldest first, from barman's WAL catalogue."""
        catalogue = self.storage_dir / "wals" / f"{self.server}-xlog.db"
        try:
            return parse_xlog_db(catalogue.read_text())
        except FileNotFoundError:
            return []

    def get_wal_text(self, name: str) -> str:
        """One archived WAL file as text (a timeline history file), decrypted by `barman get-wal`."""
        return self._run(["get-wal", self.server, name])

    def passphrase(self) -> bytes:
        """What the configured encryption_passphrase_command prints (run as the barman user): the key's
        passphrase, for decrypting a backup outside barman."""
        command = str(self.server_config().get("encryption_passphrase_command") or "")
        if not command:
            raise BackupError(f"{self.config}: server {self.server} has no encryption_passphrase_command")
        done = subprocess.run(["sh", "-c", command], capture_output=True, env=self.environment(), cwd=self.state_dir,
                              timeout=QUICK_S, stdin=subprocess.DEVNULL, check=False, **self.identity())
        if done.returncode != 0 or not done.stdout.strip():
            raise BackupError(f"{self.config}: encryption_passphrase_command failed (exit {done.returncode}): "
                              f"{_tail(_text(done.stderr))}")
        return done.stdout.strip()

    def identity(self) -> dict[str, Any]:
        """subprocess keyword arguments that run another tool (gpg) as barman's user."""
        return self._identity()

    # -- places --------------------------------------------------------------------------------------

    @cached_property
    def _servers(self) -> dict[str, Any]:
        return self._json(["show-servers", self.server])

    def server_config(self) -> dict[str, Any]:
        """The server's settings as `barman show-servers` resolves them (slot_name, path_prefix, …)."""
        return dict(self._servers[self.server])

    @cached_property
    def storage_dir(self) -> Path:
        """The server's backup_directory: every backup and archived WAL lives below it."""
        return Path(self.server_config()["backup_directory"])

    @property
    def state_dir(self) -> Path:
        """The folder of the configuration file, where the key, the passfile and the staging area live."""
        return self.config.parent.resolve()

    @property
    def staging_dir(self) -> Path:
        return self.state_dir / "staging"

    # -- running barman ------------------------------------------------------------------------------

    def command(self, args: Sequence[str], json_output: bool = False) -> list[str]:
        """The argv that runs barman with ARGS."""
        return [str(self.executable), "-c", str(self.config), *(["-f", "json"] if json_output else []), *args]

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in _DROPPED_ENV}
        env["HOME"] = str(self.state_dir)
        env["PATH"] = f"{self.executable.parent.absolute()}:{env.get('PATH', '/usr/bin:/bin')}"
        if (self.state_dir / "gnupg").is_dir():
            env["GNUPGHOME"] = str(self.state_dir / "gnupg")
        if (self.state_dir / "pgpass").is_file():
            env["PGPASSFILE"] = str(self.state_dir / "pgpass")
        return env

    def _json(self, args: Sequence[str], ok_codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
        text = self._run(args, json_output=True, ok_codes=ok_codes)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BackupError(f"{self._describe(args)}: barman's answer is not JSON: {_tail(text)}") from exc
        if not isinstance(data, dict) or self.server not in data:
            raise BackupError(f"{self._describe(args)}: barman's JSON names no server {self.server!r}: "
                              f"{_tail(text)}")
        return data

    def _run(self, args: Sequence[str], *, json_output: bool = False, ok_codes: tuple[int, ...] = (0,),
             timeout_s: float = QUICK_S) -> str:
        """Barman's standard output; BackupError naming the command and its last lines when it fails."""
        try:
            done = subprocess.run(self.command(args, json_output), capture_output=True, text=True,
                                  env=self.environment(), cwd=self.state_dir, timeout=timeout_s,
                                  stdin=subprocess.DEVNULL, check=False, **self._identity())
        except subprocess.TimeoutExpired as exc:
            raise BackupError(f"{self._describe(args)} did not finish in {timeout_s:.0f} s: "
                              f"{_tail(_text(exc.stdout) + _text(exc.stderr))}") from exc
        except OSError as exc:
            raise BackupError(f"{self._describe(args)} could not start: {exc}") from exc
        if done.returncode not in ok_codes:
            raise BackupError(f"{self._describe(args)} failed (exit {done.returncode}): "
                              f"{_tail(done.stdout + done.stderr)}")
        return done.stdout

    def _identity(self) -> dict[str, Any]:
        """Run as RUN_AS when root; as whoever we are otherwise (barman refuses a user that is not its
        configured barman_user, and says so)."""
        if self.run_as is None or os.geteuid() != 0:
            return {}
        try:
            pwd.getpwnam(self.run_as)
        except KeyError as exc:
            raise BackupError(f"barman runs as {self.run_as!r}, and no such user exists") from exc
        return {"user": self.run_as, "group": self.run_as, "extra_groups": []}

    def _describe(self, args: Sequence[str]) -> str:
        return "barman " + " ".join(args)

    def _with_details(self, info: BackupInfo) -> BackupInfo:
        meta = self.storage_dir / "meta" / f"{info.id}-backup.info"
        old = self.storage_dir / "base" / info.id / "backup.info"  # where barman < 3.13.2 kept it
        for path in (meta, old):
            try:
                return info.model_copy(update=parse_backup_info_file(path.read_text()))
            except (FileNotFoundError, PermissionError):
                continue
        return info


# -- parsing barman's output (pure, so that tests can feed it recorded answers) --------------------------

def parse_list_backups(data: dict[str, Any], server: str) -> list[BackupInfo]:
    """`barman -f json list-backups` (newest first) as BackupInfo, oldest first."""
    return [_listed(entry) for entry in reversed(data.get(server) or [])]


def _listed(entry: dict[str, Any]) -> BackupInfo:
    end = entry.get("end_time_timestamp")
    return BackupInfo(
        id=entry["backup_id"],
        kind="incremental" if entry.get("backup_type") == "incremental" else "full",
        status=str(entry.get("status", "UNKNOWN")),
        end_utc=_iso(float(end)) if end not in (None, "", "None") else None,
        size_bytes=entry.get("size_bytes"),
    )


def _backup_info_values(text: str) -> dict[str, str | None]:
    """A backup.info's key=value lines; None where barman wrote None or nothing."""
    raw = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key: (None if val in ("None", "") else val) for key, val in raw.items()}


def parse_backup_info_file(text: str) -> dict[str, Any]:
    """The fields of a backup.info (key=value lines) that BackupInfo holds."""
    value = _backup_info_values(text)
    timeline = value.get("timeline")
    return {
        "begin_utc": _iso_text(value.get("begin_time")),
        "end_utc": _iso_text(value.get("end_time")),
        "parent": value.get("parent_backup_id"),
        "timeline": int(timeline) if timeline else None,
        "begin_wal": value.get("begin_wal"),
        "end_wal": value.get("end_wal"),
        "encrypted": value.get("encryption") not in (None, "none"),
    }


def parse_check(data: dict[str, Any], server: str) -> dict[str, bool | str]:
    """`barman -f json check`: True for each passed check, "FAILED: <hint>" for the others."""
    found: dict[str, bool | str] = {}
    for name, item in (data.get(server) or {}).items():
        status, hint = str(item.get("status", "")), str(item.get("hint", ""))
        found[name] = True if status == "OK" else f"{status or 'FAILED'}: {hint}".rstrip(": ")
    return found


def parse_xlog_db(text: str) -> list[WalFile]:
    """barman's WAL catalogue: one line per archived file, tab-separated name, size, time, compression,
    encryption."""
    files = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3:
            encryption = fields[4] if len(fields) > 4 and fields[4] != "None" else None
            files.append(WalFile(fields[0], int(fields[1]), float(fields[2]), encryption))
    return files


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _iso_text(text: str | None) -> str | None:
    """barman's "2026-11-26 09:34:25.073856+00:00" as ISO 8601 in UTC."""
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _tail(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return " | ".join(lines[-TAIL_LINES:]) or "(no output)"
