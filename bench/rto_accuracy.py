"""RTO accuracy: outages of known length, measured the way drills measure them.

The app of one region is frozen (SIGSTOP) for exactly 2 s and exactly 5 s, several times each, while
the open-loop prober sends 20 requests a second straight to that app, on two paths at once:
  live  GET /livez, no database: times the instrument, whose error must stay within one probe interval;
  read  GET /api/feed, the user's path: after SIGCONT the app first works off the requests it held, so
        this RTO also holds the app's drain time, which users do see.
Prints measured vs true RTO and the error for both.

Run against a running sandbox:  .venv/bin/python bench/rto_accuracy.py [--target drills/targets/sandbox.yaml]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from pathlib import Path

import httpx

from drillkit.measure import prober, timeline
from drillkit.measure.samples import Sample
from drillkit.model.target import load_target

REGION = "region-a"
INTERVAL = 0.05
SETTINGS = timeline.TimelineSettings(interval=INTERVAL, stable_window=5.0, max_recovery=60.0, latency_threshold=0.5)


async def frozen_for(base_url: str, pid: int, seconds: float) -> tuple[float, float, list[Sample]]:
    """Probe while the app is frozen for SECONDS; returns T0, the true outage and the samples."""
    stop, samples = asyncio.Event(), []
    targets = [prober.ProbeTarget("live", base_url, "live"), prober.ProbeTarget("read", base_url, "read")]
    async with httpx.AsyncClient(timeout=2.0, limits=httpx.Limits(max_connections=400)) as client:
        async def run(target: prober.ProbeTarget) -> None:
            async def send(intended: float) -> None:
                samples.extend(await prober.probe_once(client, target, intended, 2.0))
            await prober.on_schedule(INTERVAL, stop, send)

        tasks = [asyncio.create_task(run(target)) for target in targets]
        await asyncio.sleep(3)
        os.killpg(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        os.killpg(pid, signal.SIGCONT)
        true_rto = time.monotonic() - t0
        await asyncio.sleep(SETTINGS.stable_window + 2)
        stop.set()
        await asyncio.gather(*tasks)
    return t0, true_rto, samples


def rto_of(samples: list[Sample], endpoint: str, t0: float) -> timeline.Rto:
    mine = [s for s in samples if s.endpoint == endpoint]
    until = max(s.completed for s in mine)
    return timeline.compute(mine, [timeline.FaultEvent("pause_app", t0)], SETTINGS, until, []).rto


def _app(target) -> tuple[str, int]:
    app = target.region(REGION).app
    pid_file = target.driver.state_dir / "run" / f"{app.component}.pid"
    return str(app.url).rstrip("/"), json.loads(pid_file.read_text())["pid"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=Path, default=Path("drills/targets/sandbox.yaml"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base_url, pid = _app(load_target(args.target))
    print(f"probe interval {INTERVAL * 1000:.0f} ms; {REGION}'s app frozen with SIGSTOP, then SIGCONT")
    print(f"{'true s':>8} {'live s':>8} {'error ms':>9} {'within':>7} {'read s':>8} {'error ms':>9}")
    worst_live = worst_read = 0.0
    for seconds in (2.0, 5.0):
        for _ in range(args.runs):
            t0, true_rto, samples = asyncio.run(frozen_for(base_url, pid, seconds))
            live, read = rto_of(samples, "live", t0), rto_of(samples, "read", t0)
            live_error = (live.seconds if live.bounded else float("inf")) - true_rto
            read_error = (read.seconds if read.bounded else float("inf")) - true_rto
            worst_live, worst_read = max(worst_live, abs(live_error)), max(worst_read, abs(read_error))
            print(f"{true_rto:8.3f} {live.seconds or float('nan'):8.3f} {live_error * 1000:9.1f} "
                  f"{'yes' if abs(live_error) <= INTERVAL else 'NO':>7} {read.seconds or float('nan'):8.3f} "
                  f"{read_error * 1000:9.1f}")
    print(f"worst error: {worst_live * 1000:.1f} ms on /livez (one probe interval is {INTERVAL * 1000:.0f} ms), "
          f"{worst_read * 1000:.1f} ms on the user's path, which adds the app's drain after SIGCONT")


if __name__ == "__main__":
    main()
