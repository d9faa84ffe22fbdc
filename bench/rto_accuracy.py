"""RTO accuracy: outages of known length, measured the way drills measure them.

The app of one region is frozen (SIGSTOP) for exactly 2 s and exactly 5 s, several times each, while
the open-loop prober reads from that app directly at 20 requests a second. Prints measured vs true
RTO and the error, which must stay within one probe interval (50 ms).

Run against a running sandbox:  .venv/bin/python bench/rto_accuracy.py [--target drills/targets/sandbox.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import time
from pathlib import Path

from drillkit.measure import timeline
from drillkit.measure.samples import of_endpoint
from drillkit.measure.session import MeasurementSession, MeasureSettings
from drillkit.model.objectives import Objectives
from drillkit.model.target import load_target

REGION = "region-a"


def one_outage(target, seconds: float, settings: MeasureSettings) -> tuple[float, timeline.Timeline]:
    pid = _app_pid(target)
    with tempfile.TemporaryDirectory() as out:
        session = MeasurementSession(target=target, out_dir=Path(out), settings=settings,
                                     objectives=Objectives())
        session.start()
        time.sleep(3)
        os.killpg(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        time.sleep(seconds)
        os.killpg(pid, signal.SIGCONT)
        true_rto = time.monotonic() - t0
        time.sleep(settings.stable_window_s + 2)
        session.stop()
        samples = of_endpoint(session.samples.snapshot(), REGION)
    line = timeline.compute(samples, [timeline.FaultEvent("pause_app", t0)],
                            settings.timeline(0.5), session.ended, [])
    return true_rto, line


def _app_pid(target) -> int:
    """The app's pid from the sandbox's pid file: signals are sent here, timed to the microsecond."""
    state_dir = target.driver.state_dir
    app = target.region(REGION).app.component
    return json.loads((state_dir / "run" / f"{app}.pid").read_text())["pid"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=Path, default=Path("drills/targets/sandbox.yaml"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    target = load_target(args.target)
    settings = MeasureSettings(writers=0, stable_window_s=5, probe_regions=True)
    print(f"probe interval {settings.interval_s * 1000:.0f} ms; app of {REGION} frozen with SIGSTOP")
    print(f"{'true s':>8} {'measured s':>11} {'bounds s':>17} {'error ms':>9} {'first ok ms':>12}"
          "  within one interval")
    worst = 0.0
    for seconds in (2.0, 5.0):
        for _ in range(args.runs):
            true_rto, line = one_outage(target, seconds, settings)
            rto = line.rto
            error = (rto.seconds if rto.bounded else float("inf")) - true_rto
            first_ok = (line.first_ok - line.t0 - true_rto) * 1000 if line.first_ok else float("nan")
            worst = max(worst, abs(error))
            inside = abs(error) <= settings.interval_s
            measured = rto.seconds if rto.bounded else float("nan")
            print(f"{true_rto:8.3f} {measured:11.3f} [{rto.lower:6.3f}, {rto.upper or 0:6.3f}] "
                  f"{error * 1000:9.1f} {first_ok:12.1f}  {'yes' if inside else 'NO'}")
    print(f"worst error {worst * 1000:.1f} ms (one probe interval: {settings.interval_s * 1000:.0f} ms).")
    print("The measured RTO ends when answers meet the latency objective again: after SIGCONT the app")
    print("first works off the requests it held, and that drain (first ok ms) is part of what users see.")


if __name__ == "__main__":
    main()
