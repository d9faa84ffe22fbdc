"""The process driver: faults on the embedded sandbox's local processes and loopback addresses."""

from __future__ import annotations

import logging
import pwd
import signal
import time
from pathlib import Path

from drillkit import processes
from drillkit.errors import SandboxError
from drillkit.model.sandbox import load_config
from drillkit.sandbox import netfilter, patroni, service_user
from drillkit.sandbox.supervisor import Sandbox
from drillkit.sandbox.topology import Credentials, Kind, Part, Paths, named, parts

logger = logging.getLogger("drillkit")


class ProcessControl:
    def __init__(self, state_dir: Path) -> None:
        if not (state_dir / "sandbox.json").exists():
            raise SandboxError(f"no sandbox in {state_dir}: run `drillkit sandbox up` first")
        self.config = load_config(state_dir)
        self.paths = Paths(self.config.state_dir)

    def kill(self, component: str, *, graceful: bool) -> None:
        part = self._part(component)
        pid_file = self.paths.pid_file(part)
        if graceful:
            processes.stop(pid_file, grace_s=30)  # Patroni shuts PostgreSQL down and hands over
            return
        tracked = processes.read(pid_file)
        if tracked is None or tracked.process() is None:
            raise SandboxError(f"{component} is not running")
        postmaster = patroni.postmaster(self.paths, part) if part.kind is Kind.POSTGRES else None
        processes.terminate(tracked.pid, 0, group=True, first_signal=signal.SIGKILL)
        if postmaster is not None:
            processes.terminate(postmaster.pid, 0, group=False, first_signal=signal.SIGKILL)

    def kill_postgres(self, member: str) -> None:
        postmaster = patroni.postmaster(self.paths, self._part(member))
        if postmaster is None:
            raise SandboxError(f"{member} has no running PostgreSQL")
        processes.terminate(postmaster.pid, 0, group=False, first_signal=signal.SIGKILL)

    def pause(self, component: str) -> None:
        self._signal(component, signal.SIGSTOP)

    def resume(self, component: str) -> None:
        self._signal(component, signal.SIGCONT)

    def restore(self) -> None:
        Sandbox(config=self.config, report=logger.info).heal()

    def cut(self, tag: str, region: str, others: list[str]) -> None:
        netfilter.require()
        inside = [self._uid(p) for p in parts(self.config) if p.region == region and p.kind != Kind.LB]
        outside = [self._uid(p) for p in parts(self.config) if p.region in others]
        region_address = self.config.regions[region]
        other_addresses = [self.config.regions[name] for name in others] + [self.config.witness]
        rules: list[netfilter.DropRule | netfilter.PortDropRule | netfilter.RejectRule] = [
            netfilter.DropRule(uid, address) for uid in inside for address in other_addresses
        ]
        rules += [netfilter.DropRule(uid, region_address) for uid in outside]
        netfilter.add(tag, rules)

    def cut_replication(self, tag: str, replica: str, primary: str) -> None:
        netfilter.require()
        target = self._part(primary)
        netfilter.add(tag, [netfilter.DropRule(self._uid(self._part(replica)), target.address, target.port)])

    def mend(self, tag: str) -> int:
        netfilter.require()
        return netfilter.remove(tag)

    def superuser_dsn(self, member: str) -> str:
        part = self._part(member)
        creds = Credentials.load_or_create(self.paths.credentials)
        return (f"host={part.address} port={part.port} user=postgres password={creds.superuser} "
                f"dbname={patroni.DATABASE} connect_timeout=3")

    def admin_token(self) -> str:
        return Credentials.load_or_create(self.paths.credentials).admin

    def _part(self, component: str) -> Part:
        try:
            return named(self.config, component)
        except KeyError as exc:
            raise SandboxError(str(exc)) from exc

    def _uid(self, part: Part) -> int:
        name = service_user.user_name(self.config.service_user, part.name)
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError as exc:
            raise SandboxError(f"{part.name} does not run as its own user {name!r}: "
                               "network faults need a sandbox started as root") from exc

    def _signal(self, component: str, signum: int) -> None:
        tracked = processes.read(self.paths.pid_file(self._part(component)))
        if tracked is None or tracked.process() is None:
            raise SandboxError(f"{component} is not running")
        processes.signal_group(tracked.pid, signum)
        time.sleep(0.05)  # let the kernel deliver it before the injection time is taken
