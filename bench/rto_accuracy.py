"""RTO accuracy: outages of known length, measured the way drills measure them.

The app of one region is paused for exactly 2 s and exactly 5 s, several times each, while the open-loop
prober sends 20 requests a second straight to that app, on two paths at once: `live` (GET /livez, no
database) and `read` (GET /api/feed, the user's path). Two kinds of pause:
  closed  SIGSTOP with the app's port refusing connections (an iptables REJECT in the DRILLKIT chain,
          needs root): nothing queues up, so the pause is the whole outage and the error is the
          instrument's own; it must stay within one probe interval.
  frozen  SIGSTOP alone: the kernel keeps accepting requests that the app can only work off after
          SIGCONT, so the measured RTO adds that drain, which users do see.
Prints measured vs true RTO and the error.

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
from urllib.parse import urlparse

import httpx

from drillkit.measure import prober, timeline
from drillkit.measure.samples import Sample
from drillkit.model.target import load_target
from drillkit.sandbox import netfilter

REGION = "region-a"
TAG = "drillkit:bench:rto-accuracy"
INTERVAL = 0.05
SETTINGS = timeline.TimelineSettings(interval=INTERVAL, stable_window=5.0, max_recovery=60.0, latency_threshold=0.5)


async def paused_for(
    base_url: str, pid: int, seconds: float, closed: bool
) -> tuple[float, float, list[Sample]]:
    """Probe while the app is paused for SECONDS; returns T0, the true outage and the samples."""
    stop, samples = asyncio.Event(), []
    targets = [prober.ProbeTarget("live", base_url, "live"), prober.ProbeTarget("read", base_url, "read")]
    async with httpx.AsyncClient(timeout=2.0, limits=httpx.Limits(max_connections=400)) as client:
        async def run(target: prober.ProbeTarget) -> None:
            async def send(intended: float) -> None:
                samples.extend(await prober.probe_once(client, target, intended, 2.0))
            await prober.on_schedule(INTERVAL, stop, send)

        tasks = [asyncio.create_task(run(target)) for target in targets]
        await asyncio.sleep(3)
        if closed:
            netfilter.add(TAG, [netfilter.RejectRule(*_address(base_url))])
        os.killpg(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        os.killpg(pid, signal.SIGCONT)
        if closed:
            netfilter.remove(TAG)
        true_rto = time.monotonic() - t0
        await asyncio.sleep(SETTINGS.stable_window + 2)
        stop.set()
        await asyncio.gather(*tasks)
    return t0, true_rto, samples


def rto_of(samples: list[Sample], endpoint: str, t0: float) -> timeline.Rto:
    mine = [s for s in samples if s.endpoint == endpoint]
    until = max(s.completed for s in mine)
    return timeline.compute(mine, [timeline.FaultEvent("pause_app", t0)], SETTINGS, until, []).rto


def _address(base_url: str) -> tuple[str, int]:
    parsed = urlparse(base_url)
    return parsed.hostname, parsed.port or 80


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
    print(f"probe interval {INTERVAL * 1000:.0f} ms; {REGION}'s app paused with SIGSTOP, then SIGCONT")
    print(f"{'pause':>7} {'true s':>8} {'live s':>8} {'error ms':>9} {'read s':>8} {'error ms':>9}  within")
    worst: dict[str, float] = {}
    for kind in ("closed", "frozen"):
        for seconds in (2.0, 5.0):
            for _ in range(args.runs):
                t0, true_rto, samples = asyncio.run(paused_for(base_url, pid, seconds, kind == "closed"))
                errors = [_error(rto_of(samples, path, t0), true_rto) for path in ("live", "read")]
                worst[kind] = max(worst.get(kind, 0.0), *(abs(e) for _, e in errors))
                inside = all(abs(e) <= INTERVAL for _, e in errors)
                (live, live_error), (read, read_error) = errors
                print(f"{kind:>7} {true_rto:8.3f} {live:8.3f} {live_error * 1000:9.1f} {read:8.3f} "
                      f"{read_error * 1000:9.1f}  {'yes' if inside else 'NO'}")
    print(f"worst error, closed port: {worst['closed'] * 1000:.1f} ms (one probe interval: "
          f"{INTERVAL * 1000:.0f} ms); frozen: {worst['frozen'] * 1000:.1f} ms, the app's drain after SIGCONT")


def _error(rto: timeline.Rto, true_rto: float) -> tuple[float, float]:
    measured = rto.seconds if rto.bounded else float("nan")
    return measured, measured - true_rto


if __name__ == "__main__":
    main()
