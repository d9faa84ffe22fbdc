"""RTO accuracy: outages of known length, injected from outside drillkit, measured the way users run it.

Each trial runs `drillkit run` on a quiet experiment (measurement on, no fault of drillkit's own) against
the sandbox, while a separate process (bench/outage.py) breaks the user path for exactly D seconds:
  drop-lb    every packet to the load balancer's port dropped (iptables, needs root);
  freeze-lb  the load balancer SIGSTOPped, then SIGCONTed.
The truth is the injector's own record: the outage began in [stop_issued, stop_confirmed] and ended in
[resume_issued, resume_confirmed]. A trial is right when that end lies inside drillkit's recovery bounds
[R_lower, R_upper]; the RTO bounds are R minus the outage's start interval, and their width is compared
with the goal: at most two probe intervals plus the start's own interval.

    .venv/bin/drillkit sandbox up
    .venv/bin/python bench/rto_accuracy.py --trials 10 --seconds 2 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from drillkit.model.measurements import Measurements
from drillkit.model.target import load_target

ROOT = Path(__file__).resolve().parents[1]
QUIET = ROOT / "tests" / "fixtures" / "experiments" / "quiet-window.yaml"
LEAD_S = 6.0


def trial(kind: str, seconds: float, target_file: Path, state_dir: Path, port: int, out: Path) -> dict:
    injector = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "outage.py"), kind, "--seconds", str(seconds),
         "--lead", str(LEAD_S), "--state-dir", str(state_dir), "--port", str(port)],
        stdout=subprocess.PIPE, text=True)
    subprocess.run([sys.executable, "-m", "drillkit", "run", str(QUIET), "--target", str(target_file),
                    "--out", str(out), "--var", f"quiet_s={LEAD_S + seconds + 2:.0f}"],
                   capture_output=True, text=True, check=False, cwd=ROOT)
    times = json.loads(injector.communicate(timeout=120)[0])
    (out / "outage.json").write_text(json.dumps(times))  # the truth, kept beside what drillkit measured
    measured = Measurements.model_validate_json((out / "measurements.json").read_text())
    return judge(measured, times)


def judge(measured: Measurements, times: dict) -> dict:
    origin = measured.origin_monotonic
    start = (times["stop_issued"] - origin, times["stop_confirmed"] - origin)
    end = (times["resume_issued"] - origin, times["resume_confirmed"] - origin)
    around = [i for i in measured.incidents if i.start <= end[1] + 5 and (i.end is None or i.end >= start[0])]
    if not around:
        return {"inside": False, "width": None, "rto": None, "note": "no incident reported"}
    recovery = around[-1].recovery
    if recovery.upper is None:
        return {"inside": False, "width": None, "rto": None, "note": "not recovered"}
    inside = recovery.lower <= end[1] and end[0] <= recovery.upper
    rto = (recovery.lower - start[1], recovery.upper - start[0])
    return {"inside": inside, "width": rto[1] - rto[0], "rto": rto, "t0_width": start[1] - start[0],
            "interval": measured.settings.get("interval_s", 0.05),
            "note": "" if len(around) == 1 else f"{len(around)} incidents"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=Path, default=ROOT / "drills" / "targets" / "sandbox.yaml")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 5.0])
    parser.add_argument("--kinds", nargs="+", default=["drop-lb", "freeze-lb"])
    parser.add_argument("--keep", type=Path, help="keep every trial's run folder here (default: deleted)")
    args = parser.parse_args()
    target = load_target(args.target)
    port = target.endpoint.port or 80
    print(f"{'kind':>10} {'D s':>5} {'trial':>5} {'RTO lower':>10} {'RTO upper':>10} {'width ms':>9}  truth inside")
    with tempfile.TemporaryDirectory(prefix="drillkit-rto-bench-") as scratch:
        scratch = args.keep or scratch
        for kind in args.kinds:
            for seconds in args.seconds:
                results = []
                for n in range(1, args.trials + 1):
                    out = Path(scratch) / f"{kind}-{seconds:g}-{n}"
                    result = trial(kind, seconds, args.target, target.driver.state_dir, port, out)
                    results.append(result)
                    rto = result["rto"] or (float("nan"), float("nan"))
                    width = (result["width"] or float("nan")) * 1000
                    print(f"{kind:>10} {seconds:5g} {n:5d} {rto[0]:10.3f} {rto[1]:10.3f} {width:9.0f}  "
                          f"{'yes' if result['inside'] else 'NO'} {result['note']}", flush=True)
                summarize(kind, seconds, results)


def summarize(kind: str, seconds: float, results: list[dict]) -> None:
    inside = sum(r["inside"] for r in results)
    widths = [r["width"] for r in results if r["width"] is not None]
    goals = [2 * r["interval"] + r["t0_width"] for r in results if r["width"] is not None]
    median = f"{statistics.median(widths) * 1000:.0f} ms" if widths else "n/a"
    goal = f"{statistics.median(goals) * 1000:.0f} ms" if goals else "n/a"
    print(f"SUMMARY {kind} {seconds:g} s: truth inside the bounds {inside}/{len(results)}; "
          f"median RTO bound width {median} (goal <= {goal})", flush=True)


if __name__ == "__main__":
    main()
