"""`drillkit loadtest`: run a load profile with Locust (locally, or one master and N workers), show
progress, and judge the result against the SLOs."""

from __future__ import annotations

import functools
import ipaddress
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from drillkit import processes
from drillkit.errors import Aborted, InvalidInput
from drillkit.loadtest import process
from drillkit.loadtest.judge import judge
from drillkit.model.objectives import Objectives
from drillkit.model.profile import LoadProfile

GRACE_S = 90  # beyond the profile: spawning, stopping, the final reports
MASTER_PORT = 5557  # Locust's own default: where external workers (Kubernetes pods) find the master
WORKERS_MAX_WAIT_S = 300  # external workers are pods: scheduled, their image present, then started
CONNECT_TIMEOUT_S = 3.0


def check_host(host: str, allow_remote: bool) -> None:
    """Load goes to loopback unless the caller says otherwise, explicitly."""
    parsed = urlparse(host)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInput(f"--host: {host!r} is not an http(s) URL")
    if allow_remote:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parsed.hostname, parsed.port or 80)}
    except socket.gaierror as exc:
        raise InvalidInput(f"--host: cannot resolve {parsed.hostname}: {exc}") from exc
    if not all(ipaddress.ip_address(address).is_loopback for address in addresses):
        raise InvalidInput(f"--host: {parsed.hostname} is not a loopback address; pass --allow-remote to "
                           "load a remote environment on purpose")


def check_answers(host: str) -> None:
    """Something must accept connections at HOST before any load is judged: a closed port is an
    aborted load test (exit 3), not three breached SLOs."""
    parsed = urlparse(host)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=CONNECT_TIMEOUT_S):
            return
    except OSError as exc:
        raise Aborted(f"--host: nothing answered at {parsed.hostname}:{port} ({exc.strerror or exc}); "
                      "no load was sent. Is the service up (`drillkit sandbox up` for the sandbox)?") from exc


@dataclass(frozen=True)
class Workers:
    """How the load is spread: LOCAL worker processes started here (0: one lone Locust process), or
    EXTERNAL workers that connect to a master listening on every interface (Kubernetes pods)."""

    local: int = 0
    external: int = 0

    def __post_init__(self) -> None:
        if self.local and self.external:
            raise InvalidInput("--workers and --expect-workers: give one or the other (local worker processes, "
                               "or workers that connect from elsewhere)")

    @property
    def count(self) -> int:
        return self.local or self.external


def run_loadtest(
    *, profile: LoadProfile, host: str, locustfile: Path, out_dir: Path, workers: Workers,
    objectives: Objectives, say: Callable[[str], None], plugin_dir: Path | None = None,
) -> dict[str, Any]:
    check_answers(host)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_file = out_dir / process.RESULTS_FILE
    results_file.unlink(missing_ok=True)
    launch = functools.partial(process.launch, host=host, stages=profile.locust_stages(), locustfile=locustfile,
                               out_dir=out_dir, latency_threshold_ms=objectives.latency_threshold_ms,
                               plugin_dir=plugin_dir)
    started = _start(launch, out_dir, workers)
    try:
        _wait(started[0], profile, out_dir, say, grace_s=GRACE_S + (WORKERS_MAX_WAIT_S if workers.external else 0))
    finally:
        for pid_file in reversed(started):  # workers first, then the master
            processes.stop(pid_file, grace_s=15)
    if not results_file.exists():
        raise Aborted(f"Locust left no results; see {out_dir / 'locust.log'}:\n"
                      f"{processes.log_tail(out_dir / 'locust.log')}")
    results = json.loads(results_file.read_text())
    _check_workers(results, workers, out_dir)
    verdict = judge(results, objectives)
    return {"profile": profile.model_dump(), "host": host, "workers_requested": workers.count, **verdict}


def _check_workers(results: dict[str, Any], workers: Workers, out_dir: Path) -> None:
    """A distributed run is judged only when every worker shipped its measurements: a worker that died or
    never reported took part of the load and its answers with it (the instrument failed, not the platform)."""
    reported = len(results.get("workers", []))
    if workers.count and reported < workers.count:
        raise Aborted(f"only {reported} of the {workers.count} Locust workers shipped their measurements to the "
                      f"master: the load was not the profile's and some answers are missing, so no verdict; see "
                      f"{out_dir / 'locust.log'}")


def _start(launch: Callable[..., processes.Launch], out_dir: Path, workers: Workers) -> list[Path]:
    master_pid = out_dir / "locust.pid"
    if workers.external:
        processes.start(launch(role=master_role("0.0.0.0", MASTER_PORT, workers.external, WORKERS_MAX_WAIT_S)),
                        master_pid)
        return [master_pid]
    if workers.local == 0:
        processes.start(launch(), master_pid)
        return [master_pid]
    port = process.free_port()
    processes.start(launch(role=master_role("127.0.0.1", port, workers.local, 60)), master_pid)
    started = [master_pid]
    for number in range(1, workers.local + 1):
        worker = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
        pid_file = out_dir / f"locust-worker-{number}.pid"
        processes.start(launch(name=f"locust-worker-{number}", role=worker), pid_file)
        started.append(pid_file)
    return started


def master_role(bind: str, port: int, workers: int, max_wait_s: int) -> list[str]:
    """Locust's arguments for a master on BIND:PORT that starts once WORKERS workers have connected."""
    return ["--master", "--master-bind-host", bind, "--master-bind-port", str(port),
            "--expect-workers", str(workers), "--expect-workers-max-wait", str(max_wait_s)]


def _wait(master_pid: Path, profile: LoadProfile, out_dir: Path, say: Callable[[str], None], grace_s: float) -> None:
    started = time.monotonic()
    deadline = started + profile.duration_s + grace_s
    last_said = 0.0
    while processes.running(master_pid):
        now = time.monotonic()
        if now > deadline:
            raise Aborted(f"Locust did not finish within {profile.duration_s + grace_s:.0f} s; stopped it")
        if now - last_said >= 5:
            say(_progress_line(now - started, profile, out_dir / process.PROGRESS_FILE))
            last_said = now
        time.sleep(0.5)


def _progress_line(elapsed: float, profile: LoadProfile, progress_file: Path) -> str:
    users, remaining = 0, elapsed
    for stage in profile.stages:
        users = stage.users
        if remaining < stage.duration_s:
            break
        remaining -= stage.duration_s
    try:
        seen = json.loads(progress_file.read_text())
    except (OSError, ValueError):
        seen = {"requests": 0, "failures": 0}
    rate = seen["requests"] / elapsed if elapsed else 0
    return (f"{elapsed:5.0f} s / {profile.duration_s:.0f} s  users {users:4d}  "
            f"requests {seen['requests']} ({rate:.0f}/s)  failures {seen['failures']}")
