"""Report rendering at scale: score a synthetic drill run whose measurements stand for 1,000,000
samples, then render report.json, report.md, junit.xml and report.html. Prints the time of each step
and the size of each file (goal: under 10 s in all, report.html under 3 MB).

The run has 6 experiments with 3 repetitions each; every run keeps its per-second series, as the
analysis does (SAMPLES / RATE seconds in all: 1,000,000 samples at 40 requests a second is 25,000
per-second points, about 7 h). The report keeps at most 600 chart points per run (the worst of each
bucket), so the HTML stays the same size however long the runs were; `--rate 1` makes every sample
a per-second point of its own (1,000,000 points) to show it.

Run:  PYTHONPATH=src .venv/bin/python bench/report_render.py [--samples 1000000] [--rate 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from drillkit.model.measurements import (
    Bounds,
    Budget,
    FaultMark,
    FaultTimeline,
    Incident,
    Instrument,
    Measurements,
    ProberHealth,
    Rpo,
    SecondPoint,
    Sli,
    SplitBrain,
)
from drillkit.model.objectives import Objectives
from drillkit.model.result import DrillRun, RunRecord
from drillkit.report.render import RENDERINGS
from drillkit.score import score

EXPERIMENTS = ["db-primary-outage", "region-a-outage", "region-partition", "replica-lag-failover",
               "load-spike", "app-latency"]
REPETITIONS = 3


def synthetic_measurements(seconds: int, rate: int, seed: int) -> Measurements:
    t0 = 60.0 + seed % 7
    bad = range(int(t0) + 1, int(t0) + 28)
    series = [SecondPoint(t=t, scheduled=rate, answered=rate, ok=0.0 if t in bad else 1.0,
                          p95_ms=1800.0 if t in bad else 30.0 + (t * 7919 + seed) % 40,
                          state="bad" if t in bad else "degraded" if t % 997 == 0 else "good")
              for t in range(seconds)]
    fault = FaultMark(fault="kill_primary", activity="kill-primary", issued=t0 - 0.1, confirmed=t0)
    requests = seconds * rate
    failed = len(bad) * rate
    share = len(bad) / 2592
    return Measurements(
        origin_utc="2026-11-20T10:00:00+00:00", origin_monotonic=0.0, duration_s=float(seconds), stopped="stable",
        settings={"timeout_s": 2.0}, faults=[fault],
        instrument=Instrument(probers=[ProberHealth(name="global/write_read", interval_s=1 / rate,
                                                    scheduled=requests, sent=requests, answered=requests,
                                                    lag_p50_ms=0.2, lag_p99_ms=1.3, lag_max_ms=4.0)]),
        user_path=Sli(status="measured", requests=requests, succeeded=requests - failed, fast=requests - failed,
                      timeouts=failed // 2, availability=1 - failed / requests, error_rate=failed / requests,
                      latency_sli=1 - failed / requests, p50_ms=8.0, p95_ms=45.0, p99_ms=140.0),
        budget=Budget(availability=share, errors=share / 2, latency=share / 3),
        incidents=[Incident(start=t0 + 0.4, end=t0 + 28, recovery=Bounds(lower=t0 + 26, upper=t0 + 28),
                            first_ok=t0 + 25, bad_requests=failed, phase="method", attributed_to="kill-primary",
                            budget=Budget(availability=share, errors=share / 2, latency=share / 3))],
        timelines=[FaultTimeline(fault=fault, status="measured", incident=0, rto=Bounds(lower=26.0, upper=28.0),
                                 detect_after_t0=0.4, promoted_after_t0=20.0, first_ok_after_t0=25.0,
                                 stable_after_t0=28.0, rollbacks_started_after_t0=40.0,
                                 rollbacks_ended_after_t0=42.0, recovery_mode="before rollbacks")],
        rpo=Rpo(status="measured", seconds=0.4, attempted=seconds * 5, acknowledged=seconds * 5 - 3, lost=2,
                split_brain=SplitBrain()),
        series=series)


def synthetic_run(samples: int, rate: int) -> DrillRun:
    runs = len(EXPERIMENTS) * REPETITIONS
    seconds = max(120, samples // rate // runs)
    records = [RunRecord(experiment=name, repetition=rep, status="completed", rollbacks_ok=True,
                         steady_state_ok=True, measurements=synthetic_measurements(seconds, rate, i * 10 + rep))
               for i, name in enumerate(EXPERIMENTS) for rep in range(1, REPETITIONS + 1)]
    baseline = synthetic_measurements(120, rate, 0).model_copy(update={"incidents": [], "timelines": []})
    drill = {"name": "quarterly",
             "experiments": [{"path": f"experiments/{name}.yaml", "weight": 1} for name in EXPERIMENTS]}
    return DrillRun(drill=drill, objectives={}, target="drills/targets/sandbox.yaml", target_name="sandbox",
                    target_kind="sandbox", run_dir="", started_utc="2026-11-20T09:58:00+00:00", runs=records,
                    baseline=baseline.model_copy(update={"user_path": baseline.user_path.model_copy(
                        update={"succeeded": baseline.user_path.requests, "availability": 1.0, "error_rate": 0.0,
                                "fast": baseline.user_path.requests, "latency_sli": 1.0})}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=40, help="samples per second of series")
    args = parser.parse_args()
    run = synthetic_run(args.samples, args.rate)
    points = sum(len(r.measurements.series) for r in run.runs if r.measurements)
    print(f"{args.samples:,} samples at {args.rate}/s: {len(run.runs)} runs, {points:,} per-second points")
    with tempfile.TemporaryDirectory() as out:
        run.save(Path(out))
        size = (Path(out) / "results.json").stat().st_size / 1e6
        started = time.perf_counter()
        run = DrillRun.load(Path(out))
        loaded = time.perf_counter()
        print(f"load results  {loaded - started:6.2f} s  {size:6.2f} MB (results.json, the runs' series included)")
        report = score(run, Objectives(), [])
        scored = time.perf_counter()
        print(f"score:        {scored - loaded:6.2f} s  ({report.status}, {report.score}, grade {report.grade})")
        for name, render in RENDERINGS.items():
            began = time.perf_counter()
            path = Path(out) / name
            path.write_text(render(report))
            print(f"{name:13} {time.perf_counter() - began:6.2f} s  {path.stat().st_size / 1e6:6.2f} MB")
    total = time.perf_counter() - started
    print(f"total:        {total:6.2f} s  from loading results.json (goal: under 10 s, report.html under 3 MB)")


if __name__ == "__main__":
    main()
