"""Safety on the real sandbox: one run per target, a killed run's lock and faults taken over, SIGTERM
mid-fault, a failed injection closed as not injected, and `sandbox down` stopping an untracked Patroni."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from drillkit import processes
from drillkit.faultlog import FaultLog
from drillkit.lock import holder_of
from drillkit.model.target import load_target

from .conftest import ROOT, TEST_PORTS, drillkit, wait_until

APP_B = f"http://127.0.20.1:{TEST_PORTS['app']}"  # the steady state asks the region the faults spare


def _experiment(tmp_path: Path, fault: dict, name: str = "pause") -> Path:
    """FAULT (app-a frozen for fault_duration seconds, say), and app-a resumed in the rollbacks."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "title": f"{name} app-a", "description": "a short fault on region-a's app", "tags": ["test"],
        "configuration": {"fault_duration": 3, "endpoint": APP_B},
        "steady-state-hypothesis": {"title": "region-b answers", "probes": [{
            "type": "probe", "name": "healthz", "tolerance": 200,
            "provider": {"type": "http", "url": "${endpoint}/healthz", "timeout": 3}}]},
        "method": [fault],
        "rollbacks": [{"type": "action", "name": "resume app-a", "provider": {
            "type": "python", "module": "drillkit.faults.app.actions", "func": "resume_app",
            "arguments": {"region": "region-a"}}}],
    }, sort_keys=False))
    return path


PAUSE = {"type": "action", "name": "pause app-a", "pauses": {"after": "${fault_duration}"},
         "provider": {"type": "python", "module": "drillkit.faults.app.actions", "func": "pause_app",
                      "arguments": {"region": "region-a"}}}


def _start(experiment: Path, target_file: Path, out: Path, duration: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "drillkit", "run", str(experiment), "--target", str(target_file),
         "--out", str(out), "--var", f"fault_duration={duration}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_confirmed(run: subprocess.Popen, fault_log: FaultLog) -> None:
    def confirmed() -> bool:
        if run.poll() is not None:
            pytest.fail(f"the run ended before its fault was confirmed: {run.communicate()}")
        return bool(_confirmed_faults(fault_log))

    wait_until(confirmed, 60, "the run's fault to be confirmed")


def _confirmed_faults(fault_log: FaultLog) -> list[str]:
    open_ids = {fault.id for fault in fault_log.open_faults()}
    return [f"{r['id']}" for r in _records(fault_log) if r.get("event") == "confirmed" and r["id"] in open_ids]


def _records(fault_log: FaultLog) -> list[dict]:
    from drillkit import durable

    return durable.read_lines(fault_log.path)


def _healthy_again(sandbox) -> None:
    wait_until(lambda: sandbox.status()["healthy"], timeout_s=120, what="the sandbox to be healthy again")


def test_a_second_run_is_refused_naming_the_holder_and_sigterm_mid_fault_plays_the_rollbacks(
        sandbox, target_file, tmp_path):
    target = load_target(target_file)
    faults = FaultLog(target.fault_log)
    experiment = _experiment(tmp_path, PAUSE)
    first = _start(experiment, target_file, tmp_path / "first", duration=60)
    try:
        _wait_confirmed(first, faults)
        holder = holder_of(target)
        assert holder.pid == first.pid

        second = drillkit("run", str(experiment), "--target", str(target_file), "--out", str(tmp_path / "second"),
                          check=False)
        assert second.returncode == 3, second.stderr
        assert f"run {holder.run_id} (pid {first.pid}" in " ".join(second.stderr.split())
        assert [f.run_id for f in faults.open_faults()] == [holder.run_id]  # the refused run logged nothing

        first.send_signal(signal.SIGTERM)
        stdout, stderr = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 3, stderr
    journal = json.loads((tmp_path / "first" / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert faults.open_faults() == []
    assert holder_of(target) is None  # released cleanly
    _healthy_again(sandbox)


def test_a_run_killed_mid_fault_leaves_a_lock_the_next_run_takes_over_healing_its_faults(
        sandbox, target_file, tmp_path):
    target = load_target(target_file)
    faults = FaultLog(target.fault_log)
    experiment = _experiment(tmp_path, PAUSE)
    killed = _start(experiment, target_file, tmp_path / "killed", duration=60)
    try:
        _wait_confirmed(killed, faults)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.communicate()
    dead = holder_of(target)
    assert dead.pid == killed.pid and not sandbox.part("app-a")["healthy"]  # frozen, and the lock names the dead

    after = drillkit("run", str(experiment), "--target", str(target_file), "--out", str(tmp_path / "after"),
                     "--var", "fault_duration=2", check=False)

    said = " ".join(after.stderr.split())
    assert after.returncode in (0, 1), said
    assert f"took over the lock of run {dead.run_id}" in said
    assert "healed pause_app" in said
    assert faults.open_faults() == []
    _healthy_again(sandbox)


def test_a_failed_injection_is_closed_as_not_injected_and_the_next_runs_rollbacks_succeed(
        sandbox, target_file, tmp_path):
    faults = FaultLog(load_target(target_file).fault_log)
    broken = {"type": "action", "name": "pause app-a, then fail", "provider": {
        "type": "python", "module": "tests.integration.seams", "func": "pause_app_then_fail",
        "arguments": {"region": "region-a"}}}
    failed = drillkit("run", str(_experiment(tmp_path, broken, "broken")),
                      "--target", str(target_file), "--out", str(tmp_path / "broken"), check=False)
    assert failed.returncode == 1, failed.stderr  # an activity failed; nothing left to heal
    run_id = json.loads((tmp_path / "broken" / "journal.json").read_text())["drillkit"]["run_id"]
    (mark,) = faults.marks(run_id)
    assert mark["confirmed"] is None and "broke half-way" in mark["error"]
    assert any(r.get("event") == "not_injected" and r["id"] == mark["fault_id"] for r in _records(faults))
    assert faults.open_faults() == []
    assert sandbox.part("app-a")["healthy"]  # the half-done pause was undone

    ok = drillkit("run", str(_experiment(tmp_path, PAUSE)), "--target", str(target_file),
                  "--out", str(tmp_path / "next"), check=False)
    assert ok.returncode == 0, ok.stderr
    journal = json.loads((tmp_path / "next" / "journal.json").read_text())
    assert journal["drillkit"]["status"] == "completed" and journal["drillkit"]["healed_by_safety_net"] == []
    _healthy_again(sandbox)


@pytest.mark.skipif(os.geteuid() != 0, reason="the database members run as their own users under root only")
def test_up_adopts_and_down_stops_a_patroni_started_by_hand_against_the_state_dir(sandbox):
    home = Path(sandbox.state_dir) / "pg-b"
    pid_file = Path(sandbox.state_dir) / "run" / "pg-b.pid"
    processes.stop(pid_file, grace_s=30)
    wait_until(lambda: not _postmaster_runs(home), 30, "pg-b's PostgreSQL to stop")
    by_hand = subprocess.Popen(
        [sys.executable, "-m", "patroni", str(home / "patroni.yml")], cwd=home, user="drillkit-pg-b",
        group="drillkit-pg-b", extra_groups=[], start_new_session=True,
        env={"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _patroni_answers(sandbox, "pg-b"), 90, "the hand-started Patroni to answer")
        pg_b = sandbox.part("pg-b")
        assert (pg_b["pid"], pg_b["healthy"]) == (by_hand.pid, False) and "not tracked" in pg_b["detail"]

        sandbox.up()  # adopts it: no second copy, and now healthy under its real pid
        assert sandbox.part("pg-b")["pid"] == by_hand.pid and sandbox.part("pg-b")["healthy"]

        pid_file.unlink()  # forgotten again, as a race between two runs would leave it
        down = sandbox.down()
        assert f"stopped untracked pg-b (pid {by_hand.pid}" in " ".join(down.stdout.split())
        assert by_hand.wait(30) is not None
        assert not _postmaster_runs(home)
    finally:
        if by_hand.poll() is None:
            by_hand.kill()
            by_hand.wait()
        restarted = sandbox.cli("sandbox", "up", "--config", str(sandbox.config_file), check=False)
    assert restarted.returncode == 0, restarted.stderr  # the data dirs survived: the next tests can run
    assert sandbox.status()["healthy"]


def _patroni_answers(sandbox, member: str) -> bool:
    address = {"pg-a": "127.0.10.1", "pg-b": "127.0.20.1"}[member]
    try:
        state = httpx.get(f"http://{address}:{TEST_PORTS['patroni_api']}/patroni", timeout=1).json()
        return state.get("state") in ("running", "streaming")
    except (httpx.HTTPError, ValueError):
        return False


def _postmaster_runs(home: Path) -> bool:
    try:
        pid = int((home / "data" / "postmaster.pid").read_text().splitlines()[0])
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, IndexError, psutil.Error):
        return False


def _phased_experiment(tmp_path: Path, phase: str) -> Path:
    """app-a frozen with the measure control on, and a marker file written as the run enters PHASE."""
    def shell(name: str, script: str, kind: str = "action") -> dict:
        return {"type": kind, "name": name, "provider": {"type": "process", "path": "sh", "arguments": ["-c", script]}}

    marker = tmp_path / f"in-{phase}"
    probes = [{"type": "probe", "name": "healthz", "tolerance": 200,
               "provider": {"type": "http", "url": "${endpoint}/healthz", "timeout": 3}}]
    if phase == "steady state":
        probes.append({**shell("wait here", f"touch '{marker}'; sleep 20", "probe"), "tolerance": 0})
    method = [shell("mark", f"touch '{marker}'"), PAUSE] if phase == "method" else [PAUSE]
    rollbacks = [{"type": "action", "name": "resume app-a", "provider": {
        "type": "python", "module": "drillkit.faults.app.actions", "func": "resume_app",
        "arguments": {"region": "region-a"}}}]
    if phase == "rollbacks":
        rollbacks.append(shell("a slow rollback", f"touch '{marker}'; sleep 5"))
    rollbacks.append(shell("done", f"touch '{tmp_path / 'rolled-back'}'"
                           + (f"; touch '{marker}'" if phase == "measuring after the rollbacks" else "")))
    path = tmp_path / "phased.yaml"
    path.write_text(yaml.safe_dump({
        "title": "app-a frozen, measured", "description": "a signal in one phase of the run", "tags": ["test"],
        "configuration": {"fault_duration": 60 if phase == "method" else 1, "endpoint": APP_B},
        "controls": [{"name": "measure", "provider": {"type": "python", "module": "drillkit.controls.measure",
                                                      "arguments": {"stable_window_s": "30", "max_recovery_s": "90"}}}],
        "steady-state-hypothesis": {"title": "region-b answers", "probes": probes},
        "method": method, "rollbacks": rollbacks,
    }, sort_keys=False))
    return path


@pytest.mark.parametrize("phase", ["steady state", "method", "rollbacks", "measuring after the rollbacks"])
def test_sigterm_in_any_phase_keeps_the_measurements_plays_the_rollbacks_and_exits_3_within_30_s(
        sandbox, target_file, tmp_path, phase):
    import time

    target = load_target(target_file)
    faults = FaultLog(target.fault_log)
    run = subprocess.Popen([sys.executable, "-m", "drillkit", "run", str(_phased_experiment(tmp_path, phase)),
                            "--target", str(target_file), "--out", str(tmp_path / "out")],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: (tmp_path / f"in-{phase}").exists() or run.poll() is not None, 120,
                   f"the run to reach {phase}")
        assert run.poll() is None, run.communicate()
        time.sleep(1.0)
        signalled = time.monotonic()
        run.send_signal(signal.SIGTERM)
        stdout, stderr = run.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 3, stderr
    assert took < 30, f"exited {took:.1f} s after the signal"
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    assert journal["rollbacks"] and all(r["status"] == "succeeded" for r in journal["rollbacks"])
    assert (tmp_path / "rolled-back").exists()  # every rollback played, the slow one too
    measured = json.loads((tmp_path / "out" / "measurements.json").read_text())
    assert measured["stopped"] == "interrupted" and measured["user_path"]["requests"] > 0
    assert faults.open_faults() == [] and holder_of(target) is None
    _healthy_again(sandbox)
