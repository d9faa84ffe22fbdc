"""Bring the sandbox up, report its state, and take it down again, leaving nothing behind."""

from __future__ import annotations

import contextlib
import pwd
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import psycopg

from drillkit import patroni_api, processes
from drillkit.errors import DrillkitError, SandboxError
from drillkit.faultlog import FaultLog
from drillkit.feedhub import schema
from drillkit.model.sandbox import SandboxConfig
from drillkit.sandbox import barman as backup_server
from drillkit.sandbox import caddy, etcd, feedhub, netfilter, patroni, service_user
from drillkit.sandbox.topology import Credentials, Kind, Part, Paths, of_kind, parts

POLL_S = 0.25


@dataclass
class PartStatus:
    name: str
    kind: str
    region: str
    address: str
    port: int
    pid: int | None
    running: bool
    healthy: bool
    role: str | None = None  # leader / replica, for database members
    detail: str = ""


@dataclass
class SandboxStatus:
    state_dir: str
    endpoint: str
    parts: list[PartStatus]
    patroni: dict[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(part.healthy for part in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}


class Sandbox:
    """The composition root of the embedded staging stack."""

    def __init__(
        self, *, config: SandboxConfig, report: Callable[[str], None] = lambda message: None,
        start_timeout_s: float = 60.0,
    ) -> None:
        self.config = config
        self.paths = Paths(config.state_dir)
        self.report = report
        self.start_timeout_s = start_timeout_s
        self.python = sys.executable

    # -- up ------------------------------------------------------------------------------------

    def up(self, stop_on_failure: bool = True) -> SandboxStatus:
        """Start whatever is not running and wait until every part is healthy.

        A failed start stops everything unless STOP_ON_FAILURE is off (a fault's rollback
        must not take down what still runs)."""
        self.config.save()
        creds = Credentials.load_or_create(self.paths.credentials)
        users = self._prepare_service_users()
        try:
            self._start_etcd()
            self._start_database(creds, users)
            if self.config.backups:
                self._start_backups(creds, users.get("backup"))
            self._start_front(creds, users)
            return self._settled()
        except BaseException:
            if stop_on_failure:
                self.report("start failed: stopping what runs (logs stay in the state dir)")
                self.down()
            raise

    def heal(self) -> SandboxStatus:
        """A fault's heal: start whatever of the platform is not running (the database, its witness, the
        apps and the load balancer) and wait until they are healthy, stopping nothing. The backup server
        comes last and is never waited on: its state is a finding of the drill, not a condition of the
        heal (a heal that waited for a finished backup left a killed primary down when Barman failed)."""
        self.config.save()
        creds = Credentials.load_or_create(self.paths.credentials)
        users = self._prepare_service_users()
        self._start_etcd()
        self._start_database(creds, users)
        self._start_front(creds, users)
        if self.config.backups:
            try:
                self._start_backups(creds, users.get("backup"), wait=False)
            except SandboxError as exc:
                self.report(f"the platform is healed; the backup server is not back: {exc}")
        return self._settled(but=Kind.BACKUP)

    def _settled(self, settle_s: float = 10.0, but: Kind | None = None) -> SandboxStatus:
        """The status once every part (BUT the parts of that kind) is healthy, asked anew of the live
        processes and the servers; a part that is not (its process exited after it answered, say) fails."""
        def sick_parts(status: SandboxStatus) -> list[PartStatus]:
            return [part for part in status.parts if not part.healthy and part.kind != but]

        deadline = time.monotonic() + settle_s
        while sick_parts(status := self.status()) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        sick = [f"{part.name}: {part.detail or 'unhealthy'}" for part in sick_parts(status)]
        if sick:
            raise SandboxError(f"started, yet not healthy: {'; '.join(sick)}")
        return status

    def _prepare_service_users(self) -> dict[str, pwd.struct_passwd]:
        """Under root, one unprivileged user per database member and app (none otherwise).

        PostgreSQL refuses to run as root; a user per part also lets a fault drop one part's
        packets by owner (iptables -m owner), since every loopback connection leaves from 127.0.0.1.
        """
        if not service_user.running_as_root():
            return {}
        self.paths.root.mkdir(parents=True, exist_ok=True)
        owned = [*of_kind(self.config, Kind.POSTGRES), *of_kind(self.config, Kind.APP)]
        owned += of_kind(self.config, Kind.BACKUP)
        users = {
            part.name: service_user.ensure_user(service_user.user_name(self.config.service_user, part.name))
            for part in owned
        }
        service_user.grant_python_access([*(self.paths.home(part) for part in owned), patroni.bin_dir()])
        return users

    def _start_etcd(self) -> None:
        (part,) = of_kind(self.config, Kind.ETCD)
        self._ensure_started(part, etcd.launch(self.config, self.paths, part))
        self._wait(part, "healthy", lambda: etcd.healthy(part))

    def _start_database(self, creds: Credentials, users: dict[str, pwd.struct_passwd]) -> None:
        first, *others = members = of_kind(self.config, Kind.POSTGRES)
        # A new cluster bootstraps from the first member alone. An existing one (a fault's restore, a restart)
        # starts every member before the wait for a leader: the one fit to lead may be any of them, and a
        # replica that lagged too far never takes over alone.
        existing = any((patroni.data_dir(self.paths, member) / "PG_VERSION").exists() for member in members)
        for member in members if existing else [first]:
            self._start_member(member, creds, users.get(member.name))
        self._wait(first, "up, with a database leader elected", lambda: self._leader() is not None)
        self._create_database(creds)
        for member in others:
            self._start_member(member, creds, users.get(member.name))

    def _start_member(self, member: Part, creds: Credentials, user: pwd.struct_passwd | None) -> None:
        if processes.running(self.paths.pid_file(member)):
            return
        config_file = patroni.write_config(self.config, self.paths, member, creds)
        if user:
            service_user.give_to(config_file.parent, user)
            service_user.give_to(config_file, user)
        run_as = user.pw_name if user else None
        launch = patroni.launch(self.config, self.paths, member, self.python, run_as)
        self._ensure_started(member, launch)

    def _leader(self) -> Part | None:
        for member in of_kind(self.config, Kind.POSTGRES):
            if patroni_api.is_running_leader(patroni_api.member_state(patroni.api_url(self.config, member))):
                return member
        return None

    def _create_database(self, creds: Credentials) -> None:
        self.report("creating the Feed Hub database")
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            leader = self._leader()
            try:
                if leader is None:
                    raise SandboxError("no database leader")
                address = f"host={leader.address} port={leader.port} connect_timeout=2"
                schema.create_database(
                    f"{address} dbname=postgres user=postgres password={creds.superuser}",
                    database=patroni.DATABASE, owner=patroni.APP_ROLE, password=creds.app,
                )
                schema.create_tables(
                    f"{address} dbname={patroni.DATABASE} user={patroni.APP_ROLE} password={creds.app}"
                )
                return
            except (psycopg.Error, SandboxError) as exc:
                if time.monotonic() > deadline:
                    raise SandboxError(f"cannot create the Feed Hub database: {exc}") from exc
                time.sleep(1.0)

    def _start_backups(self, creds: Credentials, user: pwd.struct_passwd | None, wait: bool = True) -> None:
        """The backup server: its logins and slot on the leader, its files and key, then its loop; with
        WAIT, until it beats and holds a finished backup (restores need one from the start)."""
        part = backup_server.part(self.config)
        backup_server.grant_access(self.config, self.paths)
        leader = self._leader()
        if leader is None:
            raise SandboxError("no database leader to create the backup server's logins and slot on")
        backup_server.create_roles(leader, creds)
        backup_server.ensure_slot(self.config, leader, creds)
        backup_server.write_files(self.config, self.paths, creds, user)
        backup_server.ensure_key(self.paths, user)
        settings = backup_server.write_settings(self.config, self.paths, user)
        launch = backup_server.launch(self.config, self.paths, self.python, settings, user.pw_name if user else None)
        self._ensure_started(part, launch)
        if wait:
            self._wait(part, "beating", lambda: backup_server.health(self.config, self.paths)[0])
            has_backup = partial(backup_server.has_finished_backup, self.config, self.paths)
            self._wait(part, "holding a finished backup", has_backup)

    def _start_front(self, creds: Credentials, users: dict[str, pwd.struct_passwd]) -> None:
        apps = of_kind(self.config, Kind.APP)
        (lb,) = of_kind(self.config, Kind.LB)
        for app in apps:
            run_as = users[app.name].pw_name if app.name in users else None
            launch = feedhub.launch(self.config, self.paths, app, creds, self.python, run_as)
            self._ensure_started(app, launch)
        self._ensure_started(lb, caddy.launch(self.config, self.paths, lb))
        for member in of_kind(self.config, Kind.POSTGRES):
            self._wait(member, "leader or streaming replica", partial(self._member_ok, member))
        for part in [*apps, lb]:
            self._wait(part, "healthy", partial(feedhub.healthy, part))

    def _member_ok(self, member: Part) -> bool:
        state = patroni_api.member_state(patroni.api_url(self.config, member))
        return patroni_api.is_running_leader(state) or patroni_api.is_streaming_replica(state)

    def _ensure_started(self, part: Part, launch: processes.Launch) -> None:
        if processes.running(self.paths.pid_file(part)):
            return
        stray = self._untracked_server(part)
        if stray is not None:  # a second copy would fail, while the REST API answered for the first
            self.report(f"adopting {part.name}, already running untracked as pid {stray.pid}")
            processes.adopt(stray, self.paths.pid_file(part))
            return
        self.report(f"starting {part.name} on {part.address}:{part.port}")
        processes.start(launch, self.paths.pid_file(part))

    def _untracked_server(self, part: Part) -> psutil.Process | None:
        """A process of this sandbox that listens on PART's port without being tracked (the backup
        scheduler listens on none: it is known by its command line)."""
        if part.kind is Kind.BACKUP:
            return next((proc for proc in self._processes() if _runs_scheduler(proc)), None)
        table = processes.listeners()
        pid = processes.listener(table, part.address, self._health_port(part)) if table else None
        mine = {proc.pid: proc for proc in self._processes()}
        return mine.get(pid) if pid is not None else None

    def _wait(self, part: Part, what: str, check: Callable[[], bool]) -> None:
        self.report(f"waiting for {part.name} to be {what}")
        deadline = time.monotonic() + self.start_timeout_s
        while not (check() and self._served_by_tracked(part)):
            if not processes.running(self.paths.pid_file(part)):
                self._fail(part, "exited while starting")
            if time.monotonic() > deadline:
                self._fail(part, f"was not {what} within {self.start_timeout_s:.0f} s")
            time.sleep(POLL_S)

    def _fail(self, part: Part, reason: str) -> None:
        log = self.paths.log(part)
        raise SandboxError(f"{part.name} {reason}. Last lines of {log}:\n{processes.log_tail(log)}")

    # -- parts, one at a time ------------------------------------------------------------------

    def stop_part(self, part: Part, grace_s: float = 30.0) -> None:
        processes.stop(self.paths.pid_file(part), grace_s)
        if part.kind is Kind.POSTGRES:
            patroni.stop_orphaned_postmaster(self.paths, part)
        if part.kind is Kind.BACKUP:
            self._stop_wal_streaming()

    def _stop_wal_streaming(self) -> None:
        """`barman receive-wal --stop`: pg_receivewal must not outlive the sandbox (what it leaves, the
        sweep of the backup user's processes stops)."""
        if not backup_server.config_file(self.paths).exists():
            return
        try:
            backup_server.barman_for(self.config, self.paths).receive_wal_stop()
        except DrillkitError as exc:
            self.report(f"barman receive-wal --stop failed ({exc}); its processes are stopped below")

    # -- down ----------------------------------------------------------------------------------

    def down(self, purge: bool = False) -> list[str]:
        """Stop every part, front to back, replicas before the leader, etcd last; then every process
        of the sandbox that is not tracked (a race or a crash left it), found by the state dir and the
        service users; then remove any packet-drop rules and close the faults still open: nothing of a
        drill outlives the sandbox. Returns what it stopped, one line each."""
        found = self._processes()  # before anything stops: each part's untracked processes stop in its turn
        stopped = []
        for part in self._stop_order():
            tracked = processes.running(self.paths.pid_file(part))
            if tracked is not None:
                self.report(f"stopping {part.name}")
                stopped.append(f"{part.name} (pid {tracked.pid})")
            if part.kind is Kind.POSTGRES and (postmaster := patroni.postmaster(self.paths, part)):
                stopped.append(f"{part.name} PostgreSQL (pid {postmaster.pid})")
            self.stop_part(part)
            stopped += self._stop_untracked([proc for proc in found if self._owner(proc) == part.name])
        stopped += self._stop_untracked([proc for proc in found if self._owner(proc) == "process"])
        self._clear_faults()
        if purge and self.paths.root.exists():
            self.report(f"removing {self.paths.root}")
            shutil.rmtree(self.paths.root)
        return stopped

    def _stop_untracked(self, candidates: list[psutil.Process], grace_s: float = 15.0) -> list[str]:
        """Stop those of CANDIDATES still alive (the tracked ones are gone by now), saying what they were."""
        strays = [proc for proc in candidates if processes.alive(proc)]
        pids = {proc.pid for proc in strays}
        roots = [proc for proc in strays if _parent_pid(proc) not in pids]  # a postmaster stops its own children
        described = [f"untracked {self._owner(proc)} (pid {proc.pid}: {_command(proc)})" for proc in roots]
        for line in described:
            self.report(f"stopping {line}")
        processes.stop_all(roots, grace_s)
        processes.stop_all([proc for proc in strays if processes.alive(proc)], 1.0)
        return described

    def _processes(self) -> list[psutil.Process]:
        """Every live process of this sandbox, tracked or not."""
        programs = [Path(self.python).resolve()]
        for where in (caddy.binary, etcd.binary, patroni.bin_dir):
            with contextlib.suppress(Exception):  # a package missing here cannot have started anything
                programs.append(where().resolve())
        users = [service_user.user_name(self.config.service_user, part.name)
                 for part in [*of_kind(self.config, Kind.POSTGRES), *of_kind(self.config, Kind.APP),
                              *of_kind(self.config, Kind.BACKUP)]]
        return processes.of_state_dir(self.paths.root, programs, users)

    def _owner(self, proc: psutil.Process) -> str:
        """Which part a process belongs to, from its working directory or command line."""
        with contextlib.suppress(psutil.Error):
            where = " ".join([proc.cwd(), *proc.cmdline()])
            for part in parts(self.config):
                if str(self.paths.home(part).resolve()) in where:
                    return part.name
        return "process"

    def _clear_faults(self) -> None:
        if service_user.running_as_root() and shutil.which("iptables") and netfilter.chain_exists():
            self.report(f"removing the {netfilter.CHAIN} iptables chain")
            netfilter.remove_chain()
        processes.stop(self.paths.root / processes.LOAD_PID_FILE)  # a load spike aimed at this sandbox
        faults = FaultLog(self.paths.root / "faults.jsonl")
        for fault in faults.open_faults():
            faults.close(fault.id, "sandbox down")

    def _stop_order(self) -> list[Part]:
        leader = self._leader()
        members = sorted(of_kind(self.config, Kind.POSTGRES), key=lambda m: m == leader)
        return [
            *of_kind(self.config, Kind.LB), *of_kind(self.config, Kind.APP), *of_kind(self.config, Kind.BACKUP),
            *members, *of_kind(self.config, Kind.ETCD),
        ]

    # -- status --------------------------------------------------------------------------------

    def status(self) -> SandboxStatus:
        """Each part as its live process and its server say, never from a pid file alone."""
        (lb,) = of_kind(self.config, Kind.LB)
        timings = self.config.patroni
        table = processes.listeners()
        return SandboxStatus(
            state_dir=str(self.paths.root),
            endpoint=lb.url,
            parts=[self._part_status(part, table) for part in parts(self.config)],
            patroni={"ttl": timings.ttl, "loop_wait": timings.loop_wait,
                     "retry_timeout": timings.retry_timeout},
        )

    def _health_port(self, part: Part) -> int:
        """The port whose server says whether PART is healthy (Patroni's REST API for a member)."""
        return self.config.ports.patroni_api if part.kind is Kind.POSTGRES else part.port

    def _served_by_tracked(self, part: Part) -> bool:
        """Whoever answers on PART's port is its tracked process (or a child of it): another copy's
        answer says nothing about this one. True when the kernel will not say (not root)."""
        proc = processes.running(self.paths.pid_file(part))
        table = processes.listeners()
        if proc is None or table is None or part.kind is Kind.BACKUP:
            return proc is not None
        pid = processes.listener(table, part.address, self._health_port(part))
        return pid is not None and processes.in_tree(pid, proc.pid)

    def _part_status(self, part: Part, table: dict[tuple[str, int], int] | None) -> PartStatus:
        proc = processes.running(self.paths.pid_file(part))
        serving = processes.listener(table, part.address, self._health_port(part)) if table else None
        status = PartStatus(
            name=part.name, kind=part.kind.value, region=part.region, address=part.address,
            port=part.port, pid=proc.pid if proc else serving, running=proc is not None or serving is not None,
            healthy=False,
        )
        if proc is None:
            status.detail = (f"not tracked: pid {serving} listens on its port (`drillkit sandbox down` stops it)"
                             if serving else "not running")
            return status
        if serving is not None and not processes.in_tree(serving, proc.pid):
            status.detail = f"its port is held by another process (pid {serving}), not by pid {proc.pid}"
            return status
        if part.kind is Kind.POSTGRES:
            self._describe_member(part, status)
        elif part.kind is Kind.BACKUP:
            status.healthy, status.detail = backup_server.health(self.config, self.paths)
        elif part.kind is Kind.ETCD:
            status.healthy = etcd.healthy(part)
        else:
            status.healthy = feedhub.healthy(part)
        if not status.healthy and not status.detail:
            status.detail = "running, but its server does not answer healthy"
        return status

    def _describe_member(self, member: Part, status: PartStatus) -> None:
        state = patroni_api.member_state(patroni.api_url(self.config, member))
        if state is None:
            status.detail = "Patroni API does not answer"
            return
        status.role = "leader" if patroni_api.is_running_leader(state) else state.get("role")
        status.healthy = patroni_api.is_running_leader(state) or patroni_api.is_streaming_replica(state)
        status.detail = state.get("replication_state") or state.get("state", "")


def _runs_scheduler(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return "drillkit.backup.scheduler" in proc.cmdline()
    return False


def _parent_pid(proc: psutil.Process) -> int | None:
    try:
        return proc.ppid()
    except psutil.Error:
        return None


def _command(proc: psutil.Process, width: int = 100) -> str:
    with contextlib.suppress(psutil.Error):
        text = " ".join(proc.cmdline())
        return text if len(text) <= width else text[: width - 1] + "…"
    return "?"
