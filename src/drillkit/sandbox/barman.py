"""The sandbox's backup server: Barman on the witness address, with its storage standing for another site.

Everything lives in `<state dir>/backup/`, owned by the service user `<prefix>-backup` (mode 0700):

    barman.conf, barman.d/<server>.conf   rendered from the sandbox's settings
    storage/                              backups and archived WAL (barman_home), GPG-encrypted
    gnupg/                                the key that encrypts them, made here, without a passphrase
    gpg-passphrase                        a dummy: barman insists on a command that prints a non-empty
                                          passphrase even for a key without one (gpg ignores it)
    pgpass                                the logins `barman` and `streaming_barman` (PGPASSFILE)
    app.dsn                               the app role's multi-host DSN (restore drills write the ledger)
    staging/                              where barman decrypts and combines a restore
    scheduler.json, heartbeat.json        the backup scheduler's settings and its last beat
    logs/barman.log                       barman's own log

Barman reaches the leader through a multi-host conninfo with target_session_attrs=read-write, so it
follows a failover without being told; its slot is a Patroni permanent slot (see patroni.render).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from drillkit import durable, patroni_api, processes
from drillkit.backup.barman import Barman
from drillkit.backup.scheduler import HEARTBEAT_FILE, SchedulerSettings, heartbeat_age
from drillkit.errors import BackupError, SandboxError
from drillkit.model.backup import load_policy
from drillkit.model.sandbox import SandboxBackups, SandboxConfig
from drillkit.sandbox import patroni, service_user
from drillkit.sandbox.topology import Credentials, Kind, Part, Paths, of_kind

KEY_UID = "drillkit sandbox backups <backups@sandbox.drillkit.invalid>"
KEY_EMAIL = "backups@sandbox.drillkit.invalid"
DUMMY_PASSPHRASE = "the-key-has-no-passphrase\n"
SETTINGS_FILE = "scheduler.json"

# What the `barman` role may do without being a superuser (Barman's documentation, PostgreSQL 15+).
BACKUP_GRANTS = (
    "GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean) TO {role}",
    "GRANT EXECUTE ON FUNCTION pg_backup_stop(boolean) TO {role}",
    "GRANT EXECUTE ON FUNCTION pg_switch_wal() TO {role}",
    "GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO {role}",
    "GRANT pg_read_all_settings TO {role}",
    "GRANT pg_read_all_stats TO {role}",
    "GRANT pg_checkpoint TO {role}",
)


def part(config: SandboxConfig) -> Part:
    (found,) = of_kind(config, Kind.BACKUP)
    return found


def home(paths: Paths) -> Path:
    return paths.root / "backup"


def config_file(paths: Paths) -> Path:
    return home(paths) / "barman.conf"


def user_name(config: SandboxConfig) -> str:
    return service_user.user_name(config.service_user, "backup")


def settings_of(config: SandboxConfig) -> SandboxBackups:
    if config.backups is None:
        raise SandboxError("this sandbox runs without backups: bring it up with `drillkit sandbox up --with-backups`")
    return config.backups


def barman_for(config: SandboxConfig, paths: Paths) -> Barman:
    """The wrapper for this sandbox's backup server (run as its service user under root)."""
    run_as = user_name(config) if service_user.running_as_root() else None
    backups = settings_of(config)
    return Barman(backups.barman.absolute(), config_file(paths), backups.server, run_as)


# -- files -----------------------------------------------------------------------------------------

def has_finished_backup(config: SandboxConfig, paths: Paths) -> bool:
    """Barman lists a finished backup: the sandbox's restores have something to restore from."""
    try:
        return any(backup.status == "DONE" for backup in barman_for(config, paths).list_backups())
    except BackupError:
        return False


def members_conninfo(config: SandboxConfig, role: str, database: str) -> str:
    """A libpq DSN naming both members, that always lands on the read-write one."""
    members = of_kind(config, Kind.POSTGRES)
    hosts = ",".join(member.address for member in members)
    ports = ",".join(str(member.port) for member in members)
    return (f"host={hosts} port={ports} user={role} dbname={database} target_session_attrs=read-write "
            "connect_timeout=3")


def render_barman_conf(config: SandboxConfig, paths: Paths, barman_user: str) -> str:
    return barman_conf_text(home(paths), barman_user)


def barman_conf_text(root: Path, barman_user: str) -> str:
    """Barman's global section for a backup server whose every file lives in ROOT (laid out as above)."""
    return "\n".join([
        "[barman]",
        f"barman_user = {barman_user}",
        f"barman_home = {root / 'storage'}",
        f"configuration_files_directory = {root / 'barman.d'}",
        f"barman_lock_directory = {root / 'storage'}",
        f"log_file = {root / 'logs' / 'barman.log'}",
        "log_level = INFO",
        f"cloud_staging_directory = {root / 'staging' / 'cloud'}",  # else barman makes /tmp/barman
        "",
    ])


def render_server_conf(config: SandboxConfig, paths: Paths) -> str:
    root, backups = home(paths), settings_of(config)
    passfile = f" passfile={root / 'pgpass'}"
    return "\n".join([
        f"[{backups.server}]",
        f'description = "Feed Hub, Patroni cluster {config.scope} (sandbox)"',
        f"conninfo = {members_conninfo(config, patroni.BACKUP_ROLE, 'postgres')}{passfile}",
        f"streaming_conninfo = {members_conninfo(config, patroni.STREAMING_BACKUP_ROLE, 'postgres')}{passfile}",
        "backup_method = postgres",
        "streaming_archiver = on",
        "archiver = off",
        f"slot_name = {patroni.BACKUP_SLOT}",
        "create_slot = manual",  # Patroni owns the slot: a permanent slot of the cluster
        f"path_prefix = {patroni.bin_dir()}",  # PostgreSQL 18's client tools, not Debian's older ones
        f"backup_directory = {root / 'storage' / backups.server}",
        "immediate_checkpoint = true",  # a spread checkpoint makes a 40 MB backup take minutes
        *encrypted_storage_lines(root),
        "minimum_redundancy = 1",
        "",
    ])


def encrypted_storage_lines(root: Path) -> list[str]:
    """How a server stores its backups: gzip-compressed tar, GPG-encrypted with the key of ROOT/gnupg
    (see ensure_key), decrypted in ROOT/staging on restore."""
    return [
        "backup_compression = gzip",  # GPG encryption requires gzip + tar
        "backup_compression_format = tar",
        "encryption = gpg",
        f"encryption_key_id = {KEY_EMAIL}",
        f"encryption_passphrase_command = cat {root / 'gpg-passphrase'}",
        "staging_location = local",
        f"staging_path = {root / 'staging'}",
    ]


def pgpass(creds: Credentials) -> str:
    return (f"*:*:*:{patroni.BACKUP_ROLE}:{creds.barman}\n"
            f"*:*:*:{patroni.STREAMING_BACKUP_ROLE}:{creds.streaming_barman}\n")


def app_dsn(config: SandboxConfig, creds: Credentials) -> str:
    return f"{members_conninfo(config, patroni.APP_ROLE, patroni.DATABASE)} password={creds.app}\n"


def write_files(config: SandboxConfig, paths: Paths, creds: Credentials, user: pwd.struct_passwd | None) -> None:
    """Every file of the backup server but the key, owned by USER (None: whoever runs drillkit)."""
    root = home(paths)
    for folder in (root, root / "barman.d", root / "storage", root / "logs", root / "staging"):
        folder.mkdir(parents=True, exist_ok=True)
        _own(folder, user, 0o700)
    barman_user = user.pw_name if user else pwd.getpwuid(os.geteuid()).pw_name
    files = {
        config_file(paths): render_barman_conf(config, paths, barman_user),
        root / "barman.d" / f"{settings_of(config).server}.conf": render_server_conf(config, paths),
        root / "gpg-passphrase": DUMMY_PASSPHRASE,
        root / "pgpass": pgpass(creds),
        root / "app.dsn": app_dsn(config, creds),
    }
    for path, text in files.items():
        _write_private(path, text)  # not durable.write_text: it masks secrets, and these files hold them
        _own(path, user, 0o600)


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def ensure_key(paths: Paths, user: pwd.struct_passwd | None) -> None:
    """A GPG key without a passphrase in backup/gnupg, made once; the agent gpg starts is stopped."""
    ensure_key_in(home(paths), user)


def ensure_key_in(root: Path, user: pwd.struct_passwd | None) -> None:
    """The backup key in ROOT/gnupg (GNUPGHOME for barman, see Barman.environment), owned by USER."""
    gnupg = root / "gnupg"
    gnupg.mkdir(exist_ok=True)
    _own(gnupg, user, 0o700)
    env = {"GNUPGHOME": str(gnupg), "HOME": str(root), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    identity: dict[str, Any] = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
    listed = subprocess.run(["gpg", "--batch", "--list-secret-keys", KEY_EMAIL], env=env, capture_output=True,
                            text=True, check=False, **identity)
    if listed.returncode != 0:
        made = subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
                               "--quick-gen-key", KEY_UID, "rsa3072", "encrypt,sign", "never"],
                              env=env, capture_output=True, text=True, check=False, timeout=120, **identity)
        if made.returncode != 0:
            raise SandboxError(f"cannot make the backup key in {gnupg}: {made.stderr.strip()}")
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, check=False, **identity)


def _own(path: Path, user: pwd.struct_passwd | None, mode: int) -> None:
    path.chmod(mode)
    if user:
        os.chown(path, user.pw_uid, user.pw_gid)


# -- the database side -----------------------------------------------------------------------------

def create_roles(leader: Part, creds: Credentials) -> None:
    """The backup server's two logins, on the leader (idempotent: passwords are set anew)."""
    dsn = (f"host={leader.address} port={leader.port} dbname=postgres user=postgres password={creds.superuser} "
           "connect_timeout=3")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for role, password, attributes in ((patroni.BACKUP_ROLE, creds.barman, "LOGIN"),
                                           (patroni.STREAMING_BACKUP_ROLE, creds.streaming_barman,
                                            "LOGIN REPLICATION")):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(f"{verb} ROLE {{}} {attributes} PASSWORD {{}}").format(
                sql.Identifier(role), sql.Literal(password)))
        for grant in BACKUP_GRANTS:
            conn.execute(sql.SQL(grant.format(role="{}")).format(sql.Identifier(patroni.BACKUP_ROLE)))


def ensure_slot(config: SandboxConfig, leader: Part, creds: Credentials, timeout_s: float = 30.0) -> None:
    """The permanent slot in the cluster's configuration and on the leader. A cluster bootstrapped
    without backups never read bootstrap.dcs.slots: it is told through Patroni's REST API."""
    api = patroni.api_url(config, leader)
    patroni_api.patch_config(api, {"slots": patroni.permanent_slots(config)})
    dsn = (f"host={leader.address} port={leader.port} dbname=postgres user=postgres password={creds.superuser} "
           "connect_timeout=3")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(dsn) as conn:
                if conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s",
                                (patroni.BACKUP_SLOT,)).fetchone():
                    return
        except psycopg.Error:
            pass
        if time.monotonic() > deadline:
            raise SandboxError(f"Patroni did not create the slot {patroni.BACKUP_SLOT!r} on {leader.name} "
                               f"within {timeout_s:.0f} s")
        time.sleep(0.5)


# -- the scheduler process ---------------------------------------------------------------------------

def write_settings(config: SandboxConfig, paths: Paths, user: pwd.struct_passwd | None) -> Path:
    backups = settings_of(config)
    policy = load_policy(backups.policy.absolute()).scaled(backups.time_scale)
    settings = SchedulerSettings(
        barman=str(backups.barman.absolute()), config=str(config_file(paths).absolute()), server=backups.server,
        full_every_s=policy.full_every, incremental_every_s=policy.incremental_every,
        cron_interval_s=backups.cron_interval_s, heartbeat=str((home(paths) / HEARTBEAT_FILE).absolute()),
    )
    path = home(paths) / SETTINGS_FILE
    durable.write_text(path, settings.model_dump_json(indent=2), mode=0o600)
    _own(path, user, 0o600)
    return path


def launch(config: SandboxConfig, paths: Paths, python: str, settings: Path, user: str | None) -> processes.Launch:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home(paths)), "LANG": "C.UTF-8",
           "PYTHONUNBUFFERED": "1", **_pythonpath()}
    backup = part(config)
    return processes.Launch(name=backup.name, argv=[python, "-m", "drillkit.backup.scheduler", "--settings",
                                                    str(settings)],
                            env=env, cwd=home(paths), log=paths.log(backup), user=user)


def _pythonpath() -> dict[str, str]:
    """The scheduler runs the drillkit of the command that starts it (a checkout runs with PYTHONPATH=src)."""
    entries = [os.path.abspath(entry) for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    return {"PYTHONPATH": os.pathsep.join(entries)} if entries else {}


def health(config: SandboxConfig, paths: Paths) -> tuple[bool, str]:
    """Healthy when the scheduler's heartbeat is fresh; the detail says what it last did."""
    beat_file = home(paths) / HEARTBEAT_FILE
    age = heartbeat_age(beat_file)
    if age is None:
        return False, "no heartbeat yet"
    try:
        beat = json.loads(beat_file.read_text())
    except (OSError, ValueError):
        beat = {}
    detail = str(beat.get("last_action", ""))
    if beat.get("last_error"):
        detail = f"{detail}; last error: {beat['last_error']}"
    stale_s = settings_of(config).heartbeat_stale_s
    if age > stale_s:
        return False, f"heartbeat {age:.0f} s old (stale after {stale_s:.0f} s); {detail}"
    return True, detail


def grant_access(config: SandboxConfig, paths: Paths) -> None:
    """Let the backup user reach barman's venv, PostgreSQL's client tools and its state dir."""
    barman = settings_of(config).barman.absolute()
    if not barman.exists():
        raise SandboxError(f"{barman} does not exist: run `make barman`")
    if shutil.which("gpg") is None:
        raise SandboxError("backups are encrypted with gpg, which is not installed (apt-get install gnupg)")
    if shutil.which("rsync") is None:
        raise SandboxError("barman restores with rsync, which is not installed (make system-packages)")
    home(paths).mkdir(parents=True, exist_ok=True)
    venv = barman.parent.parent
    site = next(venv.glob("lib/python*/site-packages"), venv)
    service_user.grant_python_access([barman, site / "barman", patroni.bin_dir(), home(paths)])
