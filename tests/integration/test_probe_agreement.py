"""drillkit's probers and an independent light prober must agree on when a frozen service came back.

Both apps are frozen for 3 s from outside (SIGSTOP); a light prober (5 requests a second, a new
connection each) runs in this process while drillkit's probe process measures. Before drillkit
opened a fresh connection per request, its pooled keep-alive connections kept it timing out for
6-7 s after the resume (10-27 s in longer drills) while the light prober saw answers at once.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx

from drillkit.measure.session import MeasurementSession, MeasureSettings
from drillkit.model.objectives import Objectives
from drillkit.model.target import load_target

FREEZE_S = 3.0


def light_prober(url: str, stop: threading.Event, answers: list[tuple[float, int]]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            with httpx.Client(timeout=1.0) as http:
                status = http.get(f"{url}/api/feed?limit=5").status_code
        except httpx.HTTPError:
            status = 0
        answers.append((time.monotonic(), status))
        time.sleep(max(0.0, started + 0.2 - time.monotonic()))


def test_drillkit_and_an_independent_prober_agree_when_a_frozen_service_came_back(sandbox, target_file, tmp_path):
    session = MeasurementSession(target=load_target(target_file), out_dir=tmp_path, settings=MeasureSettings(),
                                 objectives=Objectives())
    answers: list[tuple[float, int]] = []
    stop = threading.Event()
    light = threading.Thread(target=light_prober, args=(sandbox.endpoint, stop, answers))
    pids = [sandbox.part(app)["pid"] for app in ("app-a", "app-b")]
    session.start()
    light.start()
    try:
        time.sleep(5)
        frozen = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(FREEZE_S)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    resumed = time.monotonic()
    time.sleep(15)
    stop.set()
    light.join()
    session.stop()

    light_back = min(at for at, status in answers if status == 200 and at > frozen + 0.5)
    user_path = [s for s in session.samples if s.prober == "global/write_read"]
    last_bad = max(s.completed for s in user_path if s.error)
    assert last_bad > frozen  # drillkit saw the freeze
    assert last_bad - resumed < 1.5, f"drillkit saw failures until {last_bad - resumed:.2f} s after the resume"
    assert abs(last_bad - light_back) < 1.5, (
        f"drillkit's last failure {last_bad - resumed:.2f} s and the light prober's first answer "
        f"{light_back - resumed:.2f} s after the resume disagree")
    assert not [s for s in user_path if s.intended > resumed + 1 and s.error]
