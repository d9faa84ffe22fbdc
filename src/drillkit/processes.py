"""Start detached server processes, remember them in pid files, and stop them for sure.

A pid file holds the pid and the process's start time, so that a recycled pid is never mistaken
for a sandbox process and signalled by accident. A pid file is only a memory, though: which process
really serves a port, and which processes belong to a sandbox (tracked or not: a race or a crash can
leave one behind), is asked of the kernel.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from drillkit import durable

# Where a running load spike's Locust pid is kept, relative to the target's state dir: the load
# fault writes it, and recovery and `sandbox down` stop what it names.
LOAD_PID_FILE = Path("load") / "locust.pid"


@dataclass(frozen=True)
class Launch:
    """How to start one server."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    user: str | None = None  # run as this user (only when drillkit runs as root)


@dataclass(frozen=True)
class Tracked:
    pid: int
    started_at: float  # psutil create_time, to tell a recycled pid apart

    def process(self) -> psutil.Process | None:
        """The live process, or None when it exited (zombies count as exited)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.started_at) > 0.5:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None


def start(launch: Launch, pid_file: Path) -> Tracked:
    """Start LAUNCH in a session of its own, its output appended to its log."""
    launch.log.parent.mkdir(parents=True, exist_ok=True)
    with launch.log.open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting {launch.name}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            launch.argv,
            cwd=launch.cwd,
            env=launch.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one, immune to our Ctrl-C
            user=launch.user,
            group=launch.user,
            extra_groups=[] if launch.user else None,
        )
    tracked = Tracked(pid=proc.pid, started_at=psutil.Process(proc.pid).create_time())
    durable.write_json(pid_file, {"pid": tracked.pid, "started_at": tracked.started_at}, indent=None)
    return tracked


def read(pid_file: Path) -> Tracked | None:
    try:
        data = json.loads(pid_file.read_text())
        return Tracked(pid=int(data["pid"]), started_at=float(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running(pid_file: Path) -> psutil.Process | None:
    tracked = read(pid_file)
    return tracked.process() if tracked else None


def adopt(proc: psutil.Process, pid_file: Path) -> Tracked:
    """Track a process that runs without a pid file (started by hand, or by a run that raced us)."""
    tracked = Tracked(pid=proc.pid, started_at=proc.create_time())
    durable.write_json(pid_file, {"pid": tracked.pid, "started_at": tracked.started_at}, indent=None)
    return tracked


def listeners() -> dict[tuple[str, int], int] | None:
    """Who listens on each TCP address: {(ip, port): pid}; None when the kernel will not say
    (another user's sockets need root)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    # A TCP socket always has a local address; the empty tuple psutil allows is for Unix sockets.
    return {(c.laddr.ip, c.laddr.port): c.pid for c in connections
            if c.status == psutil.CONN_LISTEN and c.pid is not None and c.laddr}


def listener(table: dict[tuple[str, int], int], address: str, port: int) -> int | None:
    """The pid listening on ADDRESS:PORT (directly or on a wildcard address), if any."""
    for ip in (address, "0.0.0.0", "::"):
        if (ip, port) in table:
            return table[(ip, port)]
    return None


def in_tree(pid: int, root_pid: int) -> bool:
    """PID is ROOT_PID or one of its descendants."""
    try:
        proc = psutil.Process(pid)
        return pid == root_pid or any(parent.pid == root_pid for parent in proc.parents())
    except psutil.Error:
        return False


def of_state_dir(root: Path, programs: Collection[Path], users: Collection[str] = ()) -> list[psutil.Process]:
    """Every live process of the sandbox in ROOT, tracked or not: a process whose command line names
    ROOT or whose working directory lies in it, and that runs one of the sandbox's PROGRAMS (a file,
    or any file under a folder) or as one of its service USERS. A shell or a `tail -f` of a log in
    ROOT is nobody's to stop, and a service user alone proves nothing: every sandbox on the machine
    shares them. Never this process, its ancestors, or a drillkit command."""
    pattern = re.compile(re.escape(str(root.resolve())) + r"(/|$)")
    spared = {os.getpid(), *(parent.pid for parent in psutil.Process().parents())}
    found = []
    for proc in psutil.process_iter(["pid", "username", "cmdline", "cwd", "exe", "status"], ad_value=None):
        info = proc.info
        if info["pid"] in spared or info["status"] == psutil.STATUS_ZOMBIE or _is_drillkit(info["cmdline"]):
            continue
        if _names_root(info, pattern) and (info["username"] in users or _runs_one_of(info["exe"], programs)):
            found.append(proc)
    return found


def _names_root(info: dict, pattern: re.Pattern) -> bool:
    return bool(pattern.match(info["cwd"] or "")) or any(pattern.search(arg) for arg in info["cmdline"] or [])


def _runs_one_of(exe: str | None, programs: Collection[Path]) -> bool:
    if not exe:
        return False
    path = Path(exe)
    return any(path == program or program in path.parents for program in programs)


def _is_drillkit(cmdline: Iterable[str] | None) -> bool:
    """A drillkit command (`drillkit sandbox down --state-dir …`) names the state dir, yet is no part of it."""
    args = list(cmdline or [])
    as_module = any(a == "-m" and b == "drillkit" for a, b in zip(args, args[1:], strict=False))
    return as_module or any(Path(arg).name == "drillkit" for arg in args[:2])


def stop_all(procs: list[psutil.Process], grace_s: float) -> None:
    """Stop PROCS together: a fast shutdown signal each (SIGINT for a postmaster, SIGTERM otherwise),
    then SIGKILL for whatever outlives GRACE_S."""
    for proc in procs:
        first = signal.SIGINT if _is_postgres(proc) else signal.SIGTERM
        _signal(proc.pid, first, group=False)
        _signal(proc.pid, signal.SIGCONT, group=False)
    living = _wait_all_gone(procs, grace_s)
    for proc in living:
        _signal(proc.pid, signal.SIGKILL, group=False)
    _wait_all_gone(living, 5.0)


def _wait_all_gone(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Those of PROCS still alive after TIMEOUT_S (a zombie is gone: another parent reaps it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        living = [proc for proc in procs if alive(proc)]
        if not living or time.monotonic() > deadline:
            return living
        time.sleep(0.1)


def alive(proc: psutil.Process) -> bool:
    """PROC still runs: the same process (psutil checks its start time), and not a zombie."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _is_postgres(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return proc.name() == "postgres"
    return False


def stop(pid_file: Path, grace_s: float = 15.0) -> None:
    """SIGTERM the process group, SIGKILL it after GRACE_S, then forget the pid file."""
    tracked = read(pid_file)
    if tracked and tracked.process():
        terminate(tracked.pid, grace_s, group=True)
    pid_file.unlink(missing_ok=True)


def terminate(pid: int, grace_s: float, *, group: bool, first_signal: int = signal.SIGTERM) -> None:
    """Signal PID (or the group it leads), and kill it hard when it outlives GRACE_S."""
    _signal(pid, first_signal, group)
    _signal(pid, signal.SIGCONT, group)  # a paused process cannot act on the signal until resumed
    if _wait_gone(pid, grace_s):
        return
    _signal(pid, signal.SIGKILL, group)
    _wait_gone(pid, 5.0)


def signal_group(pid: int, signum: int) -> None:
    _signal(pid, signum, group=True)


def _signal(pid: int, signum: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group and _leads_group(pid):
            os.killpg(pid, signum)
        else:  # an adopted process started by hand may not lead a group of its own
            os.kill(pid, signum)


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                _reap(pid)
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child: init reaps it
        os.waitpid(pid, os.WNOHANG)


def log_tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
