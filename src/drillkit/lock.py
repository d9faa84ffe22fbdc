"""One run per target at a time: a lock file beside the target's fault log that names its holder.

The lock is an flock(2) on `run.lock`, so the kernel releases it when its holder dies, however it
dies; the file's content names the holder (pid, the process's start time, run id, start time,
command). A holder that ended cleanly empties the file. A holder that was killed leaves its name in
it: the next run takes the lock over, and says which run died and which of its faults are still open
(and heals them when it knows the target's file). A named holder that still lives (same pid, same
process start time, so a reused pid is never mistaken for it) is never taken over, even when the
file was removed and recreated under it.

Every holder is also listed, while it lives, in one folder of this machine (`runs_dir()`): what
`drillkit abort` stops, and what `sandbox down` and `staging down` refuse to pull from under.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from drillkit.errors import Aborted, TargetBusy
from drillkit.faultlog import FaultLog, OpenFault
from drillkit.model.target import DockerDriver, ProcessDriver, Target
from drillkit.redaction import redact

logger = logging.getLogger("drillkit")
LOCK_NAME = "run.lock"
RUNS_ENV = "DRILLKIT_RUNS_DIR"


@dataclass(frozen=True)
class Holder:
    pid: int
    process_started: float  # psutil create_time: tells a reused pid apart
    run_id: str
    started_utc: str
    command: str

    @classmethod
    def this_process(cls, run_id: str, command: str | None) -> Holder:
        return cls(os.getpid(), psutil.Process().create_time(), run_id, datetime.now(UTC).isoformat(),
                   command or " ".join(sys.argv))

    def alive(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            return abs(proc.create_time() - self.process_started) < 0.5 and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid}, started {self.started_utc}, command: {self.command})"


@dataclass
class Taken:
    """The lock as its holder sees it."""

    path: Path
    holder: Holder
    previous: Holder | None = None  # a holder that died without releasing the lock
    inherited: list[OpenFault] = field(default_factory=list)  # faults the dead holder left open
    nested: bool = False


# Locks this process holds, by path: a drill holds its target and its experiments run inside it.
_held: dict[Path, Taken] = {}
_held_guard = threading.Lock()


def lock_path(target: Target) -> Path:
    return target.fault_log.parent / LOCK_NAME


def holder_of(target: Target) -> Holder | None:
    """Who holds (or, killed, last held) the target's lock, or None."""
    return _read(lock_path(target))


@contextlib.contextmanager
def target_lock(
    target: Target, run_id: str, *, command: str | None = None, target_file: Path | None = None,
) -> Iterator[Taken]:
    """Hold TARGET for RUN_ID, or raise TargetBusy naming the holder. Re-entrant within a process.

    When the previous holder was killed, its open faults are reported, and healed when TARGET_FILE
    is given (Aborted when one cannot be healed: the target is not in a state to run on)."""
    path = lock_path(target).absolute()
    with _held_guard:
        nested = _held.get(path)
    if nested is not None:
        yield Taken(path, nested.holder, nested=True)
        return
    descriptor = _acquire(path, target)
    try:
        taken = _claim(path, descriptor, target, Holder.this_process(run_id, command))
    except BaseException:
        os.close(descriptor)  # the file still names its live holder: leave it as it is
        raise
    with _held_guard:
        _held[path] = taken
    listed = _list(Running(taken.holder, target.name, target.kind, str(path), *_platform_of(target)))
    try:
        if taken.previous is not None:
            _take_over(taken, taken.previous, target, target_file)
        yield taken
    finally:
        with _held_guard:
            _held.pop(path, None)
        listed.unlink(missing_ok=True)
        _release(descriptor)


def _acquire(path: Path, target: Target) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        holder = _read(path)
        if holder is not None and not holder.alive():  # a child forked with the lock outlived its run
            raise TargetBusy(f"target {target.name!r} is busy: {path} is still locked, although its holder "
                             f"{holder.describe()} has ended: a process it left behind holds the lock; "
                             "stop that process") from None
        named = holder.describe() if holder else "a process that has not written its name yet"
        raise TargetBusy(f"target {target.name!r} is busy: {named} holds {path}; "
                         "wait for it to end, or stop it (Ctrl-C or SIGTERM play its rollbacks)") from None
    return descriptor


def _claim(path: Path, descriptor: int, target: Target, me: Holder) -> Taken:
    previous = _read(path)
    if previous is not None and previous.alive() and previous.pid != me.pid:
        raise TargetBusy(f"target {target.name!r} is busy: {previous.describe()} is still running "
                         f"(its lock file {path} was replaced under it)")
    _write(descriptor, me)
    return Taken(path, me, previous=previous)


def _take_over(taken: Taken, previous: Holder, target: Target, target_file: Path | None) -> None:
    """The PREVIOUS holder died holding the target: say so, and deal with what it left open."""
    taken.inherited = FaultLog(target.fault_log).open_faults(previous.run_id)
    left = ", ".join(f"{f.fault} ({f.run_id})" for f in taken.inherited) or "none"
    logger.warning("took over the lock of %s, which ended without releasing it; its open faults: %s",
                   previous.describe(), left)
    if not taken.inherited:
        return
    if target_file is None:
        logger.warning("run `drillkit recover --run %s` to heal them", previous.run_id)
        return
    from drillkit.faults import recovery  # activities import much; only a takeover needs them

    failed = []
    for outcome in recovery.recover(target_file, FaultLog(target.fault_log), previous.run_id, target):
        if outcome.healed:
            logger.warning("healed %s, left open by run %s", outcome.fault.fault, outcome.fault.run_id)
        else:
            logger.error("could not heal %s: %s", outcome.fault.fault, outcome.error)
            failed.append(outcome.fault.fault)
    if failed:
        raise Aborted(f"run {previous.run_id} was killed and left {len(failed)} fault(s) that could not be "
                      f"healed ({', '.join(failed)}): run `drillkit recover --run {previous.run_id}`, "
                      "then try again")


def _read(path: Path) -> Holder | None:
    try:
        text = path.read_text().strip()
        return Holder(**json.loads(text)) if text else None
    except (OSError, ValueError, TypeError):
        return None


def _write(descriptor: int, holder: Holder) -> None:
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, redact(json.dumps(asdict(holder))).encode(), 0)  # its command line may hold one
    os.fsync(descriptor)


def _release(descriptor: int) -> None:
    """A clean end empties the file: only a killed holder leaves its name behind."""
    with contextlib.suppress(OSError):
        os.ftruncate(descriptor, 0)
        os.fsync(descriptor)
    os.close(descriptor)  # closing drops the flock


# -- the runs of this machine ----------------------------------------------------------------------


@dataclass(frozen=True)
class Running:
    """A run holding a target's lock, as listed in runs_dir()."""

    holder: Holder
    target: str
    kind: str
    lock: str                       # the lock file's absolute path
    sandbox_dir: str | None = None  # a process-driver target: the sandbox's state folder
    compose_project: str | None = None  # a docker-driver target: its Compose project

    def describe(self) -> str:
        return f"{self.holder.describe()} on target {self.target!r} ({self.kind})"


def runs_dir() -> Path:
    """Where this machine's running drills are listed: $DRILLKIT_RUNS_DIR, else /run/drillkit/runs for
    root, else a folder of the user's own in the temporary directory."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV])
    if os.geteuid() == 0:
        return Path("/run/drillkit/runs")
    return Path(tempfile.gettempdir()) / f"drillkit-runs-{os.getuid()}"


def running(matches: Callable[[Running], bool] = lambda run: True) -> list[Running]:
    """The live runs of this machine that MATCHES accepts, oldest first; a dead run's entry is dropped.
    The list is trusted only in a folder of this user's own that no one else may write to: it names the
    processes `abort` signals."""
    folder = runs_dir()
    if not folder.is_dir():
        return []
    info = folder.stat()
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise Aborted(f"{folder}: the list of running drills is not this user's own, or others may write to it: "
                      "not trusted (remove it, or choose another with DRILLKIT_RUNS_DIR)")
    found = []
    for entry in sorted(folder.glob("*.json")):
        try:
            data = json.loads(entry.read_text())
            run = Running(**{**data, "holder": Holder(**data["holder"])})
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if not run.holder.alive():
            entry.unlink(missing_ok=True)
            continue
        if matches(run):
            found.append(run)
    return sorted(found, key=lambda run: run.holder.started_utc)


def on_sandbox(state_dir: Path) -> Callable[[Running], bool]:
    folder = str(state_dir.resolve())
    return lambda run: run.sandbox_dir == folder


def on_compose_project(project: str) -> Callable[[Running], bool]:
    return lambda run: run.compose_project == project


def on_target(target: Target) -> Callable[[Running], bool]:
    lock = str(lock_path(target).absolute())
    return lambda run: run.lock == lock


def refuse_if_running(runs: list[Running], what: str) -> None:
    """TargetBusy naming RUNS, when there are any: WHAT would pull the platform from under them."""
    if runs:
        names = "; ".join(run.describe() for run in runs)
        raise TargetBusy(f"{what} would pull the platform from under a running drill: {names}. Wait for it, "
                         "stop it (`drillkit abort`), or pass --force to stop it first (its rollbacks play)")


def stop_runs(runs: list[Running], timeout_s: float, say: Callable[[str], None]) -> list[Running]:
    """SIGTERM each of RUNS (its rollbacks play, its measurements are kept) and wait until all have
    ended, TIMEOUT_S at most; the runs still alive then."""
    for run in runs:
        say(f"stopping {run.describe()}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.holder.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    living = list(runs)
    while living and time.monotonic() < deadline:
        time.sleep(0.2)
        ended = [run for run in living if not run.holder.alive()]
        for run in ended:
            say(f"run {run.holder.run_id} ended")
        living = [run for run in living if run not in ended]
    return living


def _platform_of(target: Target) -> tuple[str | None, str | None]:
    if isinstance(target.driver, ProcessDriver):
        return str(target.driver.state_dir.resolve()), None
    if isinstance(target.driver, DockerDriver):
        return None, target.driver.compose_project
    return None, None


def _list(run: Running) -> Path:
    """RUN's entry in runs_dir() (readable by all: `drillkit abort` may run as another user)."""
    folder = runs_dir()
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    entry = folder / f"{run.holder.pid}-{run.holder.run_id.replace('/', '_')}.json"
    with contextlib.suppress(OSError):  # a run that cannot be listed still runs; only abort cannot find it
        entry.write_text(redact(json.dumps(asdict(run))))
    return entry
