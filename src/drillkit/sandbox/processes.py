"""Start detached server processes, remember them in pid files, and stop them for sure.

A pid file holds the pid and the process's start time, so that a recycled pid is never mistaken
for a sandbox process and signalled by accident.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from drillkit import durable


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
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


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
