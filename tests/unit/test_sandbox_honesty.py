"""The sandbox reports what the kernel and the servers say, not what its pid files remember, and
`down` stops its processes that no pid file tracks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from drillkit import processes
from drillkit.model.sandbox import SandboxConfig
from drillkit.sandbox.supervisor import Sandbox
from drillkit.sandbox.topology import Paths, named

SERVER = """
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sandbox(tmp_path) -> Sandbox:
    ports = {name: _free_port() for name in
             ("etcd_client", "etcd_peer", "postgres", "patroni_api", "app", "lb", "lb_admin")}
    config = SandboxConfig(state_dir=tmp_path / "state", ports=ports, service_user="dktest")
    config.save()
    return Sandbox(config=config)


def _serve(sandbox: Sandbox, part_name: str) -> subprocess.Popen:
    """An HTTP server answering 200 on the part's port, started by hand inside the state dir."""
    part = named(sandbox.config, part_name)
    home = Paths(sandbox.config.state_dir).home(part)
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(part.port)], cwd=home)
    deadline = time.monotonic() + 10
    while processes.listener(processes.listeners() or {}, part.address, part.port) != proc.pid:
        assert time.monotonic() < deadline, "the stand-in server did not listen"
        time.sleep(0.05)
    return proc


def _part(sandbox: Sandbox, name: str):
    return next(part for part in sandbox.status().parts if part.name == name)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the kernel names other users' sockets to root only")


@needs_root
def test_an_untracked_server_is_reported_as_running_untracked_never_healthy(sandbox):
    server = _serve(sandbox, "lb")
    try:
        lb = _part(sandbox, "lb")
        assert (lb.running, lb.healthy, lb.pid) == (True, False, server.pid)
        assert "not tracked" in lb.detail
    finally:
        server.kill()
        server.wait()


@needs_root
def test_a_tracked_pid_is_not_healthy_when_another_process_answers_on_its_port(sandbox, tmp_path):
    server = _serve(sandbox, "lb")
    pid_file = Paths(sandbox.config.state_dir).pid_file(named(sandbox.config, "lb"))
    bystander = processes.start(processes.Launch(
        name="lb", argv=["sleep", "30"], env=dict(os.environ), cwd=tmp_path, log=tmp_path / "lb.log"), pid_file)
    try:
        lb = _part(sandbox, "lb")
        assert not lb.healthy  # the answer came from the server started by hand, not from the tracked pid
        assert f"pid {server.pid}" in lb.detail
    finally:
        processes.stop(pid_file, grace_s=1)
        server.kill()
        server.wait()
    assert bystander.process() is None


@needs_root
def test_up_adopts_a_part_already_running_untracked_instead_of_starting_a_second_copy(sandbox):
    server = _serve(sandbox, "lb")
    part = named(sandbox.config, "lb")
    try:
        sandbox._ensure_started(part, processes.Launch(name="lb", argv=["false"], env={}, cwd=Path("/"),
                                                       log=sandbox.paths.log(part)))
        assert processes.running(sandbox.paths.pid_file(part)).pid == server.pid
        assert _part(sandbox, "lb").detail != "not running"
    finally:
        server.kill()
        server.wait()


def test_down_stops_processes_of_the_state_dir_that_no_pid_file_tracks(sandbox, tmp_path):
    home = sandbox.paths.root / "pg-a"
    home.mkdir(parents=True)
    by_cwd = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=home)
    by_argument = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(60)",
                                    str(home / "patroni.yml")], cwd=tmp_path)
    (home / "patroni.yml").write_text("")
    a_viewer = subprocess.Popen(["tail", "-f", str(home / "patroni.yml")], cwd=home)  # not the sandbox's program
    elsewhere = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path)
    try:
        time.sleep(0.3)
        stopped = sandbox._stop_untracked(sandbox._processes(), grace_s=5)
        assert sorted(int(line.split("pid ")[1].split(":")[0]) for line in stopped) == sorted(
            [by_cwd.pid, by_argument.pid])
        assert all(line.startswith("untracked pg-a") for line in stopped)
        assert by_cwd.wait(5) is not None and by_argument.wait(5) is not None
        assert a_viewer.poll() is None and elsewhere.poll() is None
    finally:
        for proc in (by_cwd, by_argument, a_viewer, elsewhere):
            proc.kill()
            proc.wait()


def test_a_process_that_leads_no_group_of_its_own_is_still_stopped(tmp_path):
    """An adopted process started by hand shares its parent's group: killpg(pid) would miss it."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pid_file = tmp_path / "hand.pid"
    processes.adopt(psutil.Process(proc.pid), pid_file)
    processes.stop(pid_file, grace_s=5)
    assert proc.wait(5) is not None
