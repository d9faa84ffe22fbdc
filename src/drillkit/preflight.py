"""The preflight: everything a plan needs, checked before its first fault, so that no experiment runs
with half its faults impossible.

Each check names what it looked at, what it found and what to do. A failed check of the input (an
unshipped driver, a component the environment lacks, a run folder that is a file or holds other
files) makes the run exit 2; a failed check of the environment (no root, no iptables, a component
down, no database leader, no disk, another run holding the target) makes it exit 3.

Test-only seam: DRILLKIT_PREFLIGHT_SKIP="name,name" marks those checks skipped (as "skipped", never
"ok"). It exists so that tests can make a fault fail at injection; never set it for a real run.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from drillkit.errors import EXIT_ABORTED, EXIT_INVALID, DrillkitError, InvalidInput
from drillkit.model.needs import BACKUPS, MEASURE, NETWORK, SIGNALS, activities
from drillkit.model.target import DockerDriver, KubernetesDriver, ProcessDriver, Target

SKIP_ENV = "DRILLKIT_PREFLIGHT_SKIP"  # test-only
LOCK_CHECK = "target-lock"
MIN_FREE_BYTES = 200 * 1024 * 1024  # journals, samples and reports of one drill fit in far less
RUN_FOLDER_MARKERS = ("journal.json", "results.json", "drill.log", "measurements.json", "loadtest.json")
HTTP_TIMEOUT_S = 3.0

Kind = Literal["input", "environment"]
Result = Literal["ok", "FAILED", "skipped"]


@dataclass(frozen=True)
class Check:
    name: str
    subject: str
    ok: bool
    detail: str
    remedy: str = ""
    kind: Kind = "environment"
    skipped: bool = False

    @property
    def result(self) -> Result:
        return "skipped" if self.skipped else "ok" if self.ok else "FAILED"


@dataclass(frozen=True)
class Report:
    checks: list[Check]

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok and not check.skipped]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        if self.ok:
            return 0
        return EXIT_INVALID if any(check.kind == "input" for check in self.failures) else EXIT_ABORTED

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "exit_code": self.exit_code,
                "checks": [{**asdict(check), "result": check.result} for check in self.checks]}

    def message(self) -> str:
        lines = [f"preflight: {len(self.failures)} check(s) failed; nothing was touched"]
        lines += [f"  {c.name} ({c.subject}): {c.detail}" + (f"; {c.remedy}" if c.remedy else "")
                  for c in self.failures]
        return "\n".join(lines)

    def __add__(self, other: Report) -> Report:
        return Report(self.checks + other.checks)


class PreflightFailed(DrillkitError):
    """A capability the plan needs is missing: the run stops before its first fault."""

    def __init__(self, report: Report) -> None:
        super().__init__(report.message())
        self.report = report
        self.exit_code = report.exit_code


def uses_target(experiments: Iterable[dict[str, Any]]) -> bool:
    """Whether any activity or control is drillkit's (a plain Chaos Toolkit experiment needs no target)."""
    for experiment in experiments:
        providers = [a.get("provider") or {} for a in activities(experiment)]
        providers += [c.get("provider") or {} for c in experiment.get("controls") or [] if isinstance(c, dict)]
        if any(str(p.get("module", "")).startswith("drillkit.") for p in providers):
            return True
    return False


def static_checks(target: Target, needs: set[str], run_dir: Path | None = None, force: bool = False) -> Report:
    """What can be checked without asking the target anything: input, privileges, binaries, disk, lock."""
    from drillkit.validation import target_problems

    problems = target_problems(target)
    checks = [Check("target", target.name, not problems, "; ".join(problems) or
                    f"{target.kind} target, {target.driver.type} driver",
                    "fix the target file" if problems else "", "input")]
    checks += _secret_checks(target)
    if BACKUPS in needs and target.backups is None:
        checks.append(Check("backups", target.name, False, "the plan restores backups and the target has no "
                            "backups: block", "add the backup server to the target file (see "
                            "drills/targets/sandbox.yaml)", "input"))
    if NETWORK in needs and not isinstance(target.driver, KubernetesDriver):
        checks += _network_checks()  # a cluster's network faults are NetworkPolicies: no host rule, no root
    if run_dir is not None:
        checks += run_folder_checks(run_dir, force)
    checks.append(_lock_check(target))
    return _with_skips(Report(checks))


def live_checks(target: Target, needs: AbstractSet[str] = frozenset()) -> Report:
    """Ask the running target: every component answers, the database has a leader, the load balancer
    serves, and the sandbox's parts run as the faults need (its users exist once it was started)."""
    from drillkit import patroni_api
    from drillkit.validation import target_problems

    if target_problems(target):
        return Report([])  # nothing to ask an environment drillkit cannot drive
    checks = _process_checks(target, needs) + _container_checks(target, needs) + _cluster_checks(target)
    checks += [_answers("component", region.app.component, f"{str(region.app.url).rstrip('/')}/healthz")
              for region in target.regions.values()]
    checks += [_answers("component", name, f"{str(member.patroni_api).rstrip('/')}/patroni")
               for name, member in target.members().items()]
    leader = patroni_api.leader(target.patroni_apis())
    checks.append(Check("database-leader", "database", leader is not None,
                        f"{leader} leads" if leader else "no member is the running leader",
                        "" if leader else "wait for a failover to finish, or `drillkit sandbox up`"))
    checks.append(_answers("load-balancer", str(target.endpoint), f"{str(target.endpoint).rstrip('/')}/healthz"))
    if MEASURE in needs and target.ledger.mode == "dsn":
        checks.append(_ledger_check(target))
    if BACKUPS in needs and target.backups is not None:  # its DSN file is the running backup server's
        checks += [check for check in _secret_checks(target, backups=True) if check.subject == "backups.database"]
        checks.append(_backup_server_check(target))
    return _with_skips(Report(checks))


def _backup_server_check(target: Target) -> Check:
    """Barman answers and lists at least one finished backup to restore from."""
    from drillkit.backup.barman import Barman
    from drillkit.errors import BackupError

    settings = target.backups
    assert settings is not None
    barman = Barman.of(settings)
    try:
        done = [b for b in barman.list_backups() if b.status == "DONE"]
    except BackupError as exc:
        return Check("backup-server", settings.server, False, str(exc),
                     "start the backup server (`drillkit sandbox up --with-backups` for the sandbox)")
    return Check("backup-server", settings.server, bool(done), f"{len(done)} finished backups listed",
                 "" if done else "wait for the first full backup, or take one (`barman backup`)")


def _ledger_check(target: Target) -> Check:
    """The DSN ledger's database answers on its primary, and takes (or has) the ledger's table: a run
    whose RPO could not be measured is told so before its first fault."""
    import psycopg

    from drillkit.measure import dsn_ledger
    from drillkit.redaction import redact

    assert target.ledger.dsn is not None  # the model requires it in mode dsn
    remedy = ("check ledger.dsn: every member, target_session_attrs=read-write, a role that may create "
              f"{dsn_ledger.TABLE} (or grant it INSERT and SELECT on that table)")
    try:
        dsn = dsn_ledger.remember(target.ledger.dsn.reveal())
        if why := dsn_ledger.malformed(dsn):
            return Check("ledger", "ledger.dsn", False, f"{target.ledger.dsn.describe()}: {why}", remedy, "input")
        found = dsn_ledger.problem(dsn)
    except InvalidInput as exc:
        return Check("ledger", "ledger.dsn", False, str(exc), remedy, "input")
    except psycopg.Error as exc:
        return Check("ledger", "ledger.dsn", False, f"the database did not answer: {redact(str(exc).strip())}",
                     remedy)
    return Check("ledger", "ledger.dsn", found is None, found or f"the primary takes {dsn_ledger.TABLE}",
                 remedy if found else "")


def run_folder_checks(run_dir: Path, force: bool) -> list[Check]:
    """New or empty (or a run folder and --force), writable, with room for a run."""
    subject = str(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        return [Check("run-folder", subject, False, "is a file, not a folder", "give --out a new folder",
                      "input")]
    folder = _folder_check(run_dir, force)
    existing = _nearest_existing(run_dir)
    writable = os.access(existing, os.W_OK | os.X_OK)
    free = shutil.disk_usage(existing).free
    return [
        folder,
        Check("run-folder-writable", subject, writable, f"{existing} is writable" if writable else
              f"cannot write in {existing}", "" if writable else "choose a folder this user may write"),
        Check("disk", str(existing), free >= MIN_FREE_BYTES, f"{free / 2**20:.0f} MiB free",
              "" if free >= MIN_FREE_BYTES else f"free at least {MIN_FREE_BYTES // 2**20} MiB"),
    ]


def _folder_check(run_dir: Path, force: bool) -> Check:
    subject = str(run_dir)
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return Check("run-folder", subject, True, "new" if not run_dir.exists() else "empty", kind="input")
    entries = {entry.name for entry in run_dir.iterdir()}
    if not entries & set(RUN_FOLDER_MARKERS):
        return Check("run-folder", subject, False, "holds files that are not a drillkit run's",
                     "give --out a new or empty folder (--force only reuses an earlier run's folder)", "input")
    if not force:
        return Check("run-folder", subject, False, "holds an earlier run", "give --out a new folder, or --force "
                     "to write over that run", "input")
    return Check("run-folder", subject, True, "holds an earlier run; --force writes over it", kind="input")


def _secret_checks(target: Target, backups: bool = False) -> list[Check]:
    """Every secret the target names can be read (its value is never shown: only where it comes from);
    with BACKUPS, the backup server's database DSN too."""
    checks = []
    for field, ref in target.secret_refs(backups=backups).items():
        try:
            ref.reveal()
        except InvalidInput as exc:
            checks.append(Check("secret", field, False, str(exc), f"set it ({ref.describe()}); never write "
                                "it into the target file", "input"))
        else:
            checks.append(Check("secret", field, True, f"read from {ref.describe()}", kind="input"))
    return checks


def _network_checks() -> list[Check]:
    from drillkit.sandbox import netfilter

    root = os.geteuid() == 0
    binary = netfilter.binary()
    checks = [
        Check("root", "network faults", root, "running as root" if root else f"running as uid {os.geteuid()}",
              "" if root else "run drillkit as root: network faults add iptables rules"),
        Check("iptables", "network faults", binary is not None, binary or "not found on PATH nor in "
              f"{', '.join(netfilter.SYSTEM_DIRS)}" + (f" ({netfilter.BINARY_ENV} is set)"
                                                      if netfilter.BINARY_ENV in os.environ else ""),
              "" if binary else "install the Debian package iptables (`make system-packages` as root)"),
    ]
    return checks


def _process_checks(target: Target, needs: AbstractSet[str]) -> list[Check]:
    if not isinstance(target.driver, ProcessDriver):
        return []
    checks = [_service_users_check(target, target.driver)] if NETWORK in needs else []
    return checks + (_signal_checks(target) if SIGNALS in needs else [])


def _container_checks(target: Target, needs: AbstractSet[str]) -> list[Check]:
    """A docker target: its engine answers, every component and witness has a running container, and
    network faults can enter the containers' namespaces (nsenter)."""
    if not isinstance(target.driver, DockerDriver):
        return []
    from drillkit.errors import SandboxError
    from drillkit.faults.drivers.docker import DockerControl
    from drillkit.sandbox import netfilter

    engine = target.driver.base_url or "$DOCKER_HOST"
    checks = []
    if NETWORK in needs:
        nsenter = netfilter.system_binary("nsenter")
        checks.append(Check("nsenter", "network faults", nsenter is not None, nsenter or "not found",
                            "" if nsenter else "install the Debian package util-linux"))
    try:
        problems = DockerControl(target).problems()
    except SandboxError as exc:
        return checks + [Check("docker-engine", engine, False, str(exc), "start the engine, or fix driver.base_url")]
    checks.append(Check("docker-engine", engine, True, "answers"))
    return checks + [Check("containers", target.name, not problems, "; ".join(problems) or
                           "every component and witness runs", "" if not problems else
                           "start them (`docker-compose up -d`), or fix the target's component names")]


def _cluster_checks(target: Target) -> list[Check]:
    """A kubernetes target: its API answers through the configured context, and every bound workload exists."""
    if not isinstance(target.driver, KubernetesDriver):
        return []
    from drillkit.errors import SandboxError
    from drillkit.faults.drivers.kubernetes import KubernetesControl, describe

    credentials = describe(target.driver)
    try:
        control = KubernetesControl(target)
        version = control.api_version()
    except SandboxError as exc:
        return [Check("kube-api", target.name, False, str(exc), "fix driver.kubeconfig or driver.context, or run "
                      "the drill in the cluster (deploy/kubernetes/drill)")]
    problems = control.problems()
    return [Check("kube-api", target.name, True, f"Kubernetes {version} answers through {credentials}"),
            Check("workloads", target.name, not problems, "; ".join(problems) or "every bound workload exists",
                  "" if not problems else "deploy them, or fix driver.components (namespace, workload); a 403 "
                  "is the drill's Role")]


def _service_users_check(target: Target, driver: ProcessDriver) -> Check:
    """Rules tell regions apart by socket owner: each part must run as its own user."""
    missing = [user for user in _service_users(target, driver) if not _user_exists(user)]
    return Check("service-users", "network faults", not missing,
                 "each sandbox part runs as its own user" if not missing else f"no user {', '.join(missing)}",
                 "" if not missing else "start the sandbox as root (`drillkit sandbox down`, then `sandbox up`)")


def _signal_checks(target: Target) -> list[Check]:
    if not isinstance(target.driver, ProcessDriver):
        return []
    owned = [user for user in _service_users(target, target.driver) if _user_exists(user)]
    allowed = os.geteuid() == 0 or not owned
    return [Check("signals", "process faults", allowed,
                  "may signal the sandbox's processes" if allowed else "the sandbox's parts run as other users",
                  "" if allowed else "run drillkit as root, as the sandbox was started")]


def _service_users(target: Target, driver: ProcessDriver) -> list[str]:
    from drillkit.model.sandbox import load_config
    from drillkit.sandbox.service_user import user_name

    prefix = load_config(driver.state_dir).service_user
    return [user_name(prefix, name) for name in target.components().values()]


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _lock_check(target: Target) -> Check:
    """Another live run holds the target's lock (drillkit.lock): nothing else can be judged meanwhile."""
    from drillkit.lock import holder_of

    holder = holder_of(target)
    if holder is None or holder.pid == os.getpid() or not holder.alive():
        return Check(LOCK_CHECK, target.name, True, "no other run holds the target", "")
    return Check(LOCK_CHECK, target.name, False, f"held by {holder.describe()}",
                 "wait for that run to end, or stop it (Ctrl-C or SIGTERM play its rollbacks)")


def _answers(name: str, subject: str, url: str) -> Check:
    try:
        status = httpx.get(url, timeout=HTTP_TIMEOUT_S).status_code
    except httpx.HTTPError as exc:
        return Check(name, subject, False, f"{url} did not answer ({type(exc).__name__})",
                     "start it (`drillkit sandbox up` for the sandbox)")
    return Check(name, subject, status < 300, f"{url} answered {status}",
                 "" if status < 300 else "wait until it is healthy, or `drillkit sandbox up`")


def _with_skips(report: Report) -> Report:
    skipped = {name.strip() for name in os.environ.get(SKIP_ENV, "").split(",") if name.strip()}
    if not skipped:
        return report
    return Report([Check(c.name, c.subject, c.ok, c.detail + f" (skipped through {SKIP_ENV}, a test-only seam)",
                         c.remedy, c.kind, True) if c.name in skipped else c for c in report.checks])


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def require(*reports: Report, say: Callable[[Report], None] | None = None) -> Report:
    """The combined report; raises PreflightFailed when any check failed."""
    combined = sum(reports, Report([]))
    if say is not None:
        say(combined)
    if not combined.ok:
        raise PreflightFailed(combined)
    return combined
