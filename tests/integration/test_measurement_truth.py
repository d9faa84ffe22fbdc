"""drillkit's numbers against the truth: outages injected from outside drillkit (a separate process,
outside the fault library and the probers), with their true length known, and an independent light
prober beside drillkit's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from drillkit.model.measurements import Measurements
from tests.integration.conftest import ROOT, TEST_PORTS, drillkit

pytestmark = pytest.mark.integration
QUIET = ROOT / "tests" / "fixtures" / "experiments" / "quiet-window.yaml"


class LightProber:
    """5 requests a second, a new connection each, in a thread of the test: an observer that shares
    nothing with drillkit's probers."""

    def __init__(self, url: str) -> None:
        self.url, self.answers, self._stop = url, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LightProber:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            sent = time.monotonic()
            try:
                ok = httpx.get(self.url, timeout=2.0).status_code == 200
            except httpx.HTTPError:
                ok = False
            self.answers.append((sent, time.monotonic(), ok))

    def recovery_after(self, instant: float) -> tuple[float, float]:
        """(last request sent bad, first good answer after it), around INSTANT."""
        bad = [sent for sent, _, ok in self.answers if not ok and sent <= instant + 10]
        last_bad = max(bad)
        first_good = min(done for sent, done, ok in self.answers if ok and sent > last_bad)
        return last_bad, first_good


def _run_with_outage(target_file: Path, sandbox, out: Path, kind: str, seconds: float) -> tuple[Measurements, dict]:
    injector = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "outage.py"), kind, "--seconds", str(seconds), "--lead", "6",
         "--state-dir", str(sandbox.state_dir), "--port", str(TEST_PORTS["lb"])],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        drillkit("run", str(QUIET), "--target", str(target_file), "--out", str(out), "--var", "quiet_s=14",
                 check=False, timeout=240)
    finally:
        stdout, _ = injector.communicate(timeout=60)
    times = json.loads(stdout)
    return Measurements.model_validate_json((out / "measurements.json").read_text()), times


def test_an_outage_injected_from_outside_lies_within_the_reported_bounds(sandbox, target_file, tmp_path):
    with LightProber(f"{sandbox.endpoint}/api/feed?limit=5") as light:
        measured, times = _run_with_outage(target_file, sandbox, tmp_path / "run", "drop-lb", 3.0)
    origin = measured.origin_monotonic
    assert measured.incidents, "a 3 s outage of the user path must be an incident"
    incident = measured.incidents[0]
    lower, upper = origin + incident.recovery.lower, origin + incident.recovery.upper
    assert lower <= times["resume_confirmed"] and times["resume_issued"] <= upper, (
        f"the outage ended at {times['resume_issued'] - origin:.3f} s, drillkit says within "
        f"[{incident.recovery.lower}, {incident.recovery.upper}]")
    light_last_bad, light_first_good = light.recovery_after(times["resume_confirmed"])
    assert light_last_bad <= upper and lower <= light_first_good, (
        "drillkit and an independent prober disagree on when the service came back: "
        f"light prober [{light_last_bad - origin:.3f}, {light_first_good - origin:.3f}], "
        f"drillkit [{incident.recovery.lower}, {incident.recovery.upper}]")


def test_a_frozen_measuring_process_is_a_degraded_instrument_not_an_outage(sandbox, target_file, tmp_path):
    out = tmp_path / "run"
    run = subprocess.Popen([sys.executable, "-m", "drillkit", "run", str(QUIET), "--target", str(target_file),
                            "--out", str(out), "--var", "quiet_s=12"], cwd=ROOT, env=os.environ.copy(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        probe = _probe_process(run.pid, timeout_s=30)
        time.sleep(5)
        probe.send_signal(signal.SIGSTOP)
        time.sleep(2)
        probe.send_signal(signal.SIGCONT)
        output, _ = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
    measured = Measurements.model_validate_json((out / "measurements.json").read_text())
    assert measured.incidents == [], f"the instrument's own stall was reported as an outage\n{output}"
    assert measured.instrument.degraded_s >= 1.5, "a 2 s stall of the instrument must show as degraded"


def _probe_process(parent: int, timeout_s: float) -> psutil.Process:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in psutil.Process(parent).children(recursive=True):
            if "probe_process" in " ".join(child.cmdline()):
                return child
        time.sleep(0.2)
    raise AssertionError("the probe process never started")
