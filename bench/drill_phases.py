"""Where a quarterly drill's time goes: each phase's seconds and share of the whole.

    flock /tmp/drillkit-sandbox.lock .venv/bin/python bench/drill_phases.py          # runs the drill
    .venv/bin/python bench/drill_phases.py --run-dir reports/2026-Q4-…                # reads a run folder

With no --run-dir it runs what `make drill-quarterly` runs (`drillkit drill drills/quarterly.yaml
--manage-sandbox`), times the whole command, and reads the run folder it wrote. The phases come from the
run's own records: results.json (the drill's start and end) and drill.log (each experiment's start, its
method, its rollbacks, the measuring after them). What lies outside the run folder (the sandbox's start
and stop) is the command's wall time less the drill's, so it is known only when the bench ran the drill.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ (\w+): (.*)$")
# drill.log lines that open a phase of one experiment, in the order they come
MARKS = (("Running experiment:", "steady state before"), ("Playing your experiment's method", "method"),
         ("Steady state hypothesis:", "steady state after, rollbacks"),
         ("measuring until the service is stable again", "measuring until stable"),
         ("measurements (", "between experiments (leader back to pg-a)"))


def instant(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def phases(run_dir: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per phase, summed over the experiments (the drill's own start and end bound the rest), and
    each experiment's method."""
    results = json.loads((run_dir / "results.json").read_text())
    started = datetime.fromisoformat(results["started_utc"]).timestamp()
    finished = datetime.fromisoformat(results["finished_utc"]).timestamp()
    marks: list[tuple[float, str]] = []
    titles: list[str] = []  # the experiment of each method mark
    seen_method = False
    for line in (run_dir / "drill.log").read_text().splitlines():
        found = LINE.match(line)
        if not found:
            continue
        at, message = instant(found.group(1)), found.group(3)
        for prefix, phase in MARKS:
            if not message.startswith(prefix):
                continue
            if not titles and phase != "steady state before":
                continue  # the baseline's own lines, before the first experiment
            if phase == "steady state before":
                seen_method = False
                titles.append(message.removeprefix(prefix).strip())
            elif phase == "method":
                seen_method = True
            elif phase.startswith("steady state after") and not seen_method:
                continue  # the hypothesis before the method
            marks.append((at, phase))
    spent: dict[str, float] = defaultdict(float)
    methods: dict[str, float] = defaultdict(float)
    spent["setup and baseline"] = (marks[0][0] if marks else finished) - started
    ends = [at for at, _ in marks[1:]] + [finished]
    for index, ((at, phase), end) in enumerate(zip(marks, ends, strict=True)):
        if index == len(marks) - 1 and phase.startswith("between"):
            phase = "backup policy check, report"  # after the last experiment
        spent[phase] += end - at
        if phase == "method":
            methods[titles[sum(p == "steady state before" for _, p in marks[:index + 1]) - 1]] += end - at
    return dict(spent), dict(methods)


def run_drill() -> tuple[Path, float]:
    """Run the quarterly drill as `make drill-quarterly` does; its run folder and the command's seconds."""
    before = set((ROOT / "reports").glob("*/results.json"))
    started = time.monotonic()
    subprocess.run([str(ROOT / ".venv/bin/drillkit"), "drill", "drills/quarterly.yaml", "--manage-sandbox"],
                   cwd=ROOT, check=False)
    took = time.monotonic() - started
    (new,) = set((ROOT / "reports").glob("*/results.json")) - before
    return new.parent, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, help="read this drill's run folder instead of running one")
    args = parser.parse_args()
    run_dir, wall = (args.run_dir, None) if args.run_dir else run_drill()
    spent, methods = phases(run_dir)
    drill_s = sum(spent.values())
    if wall is not None:
        spent["sandbox start and stop"] = wall - drill_s
    total = wall if wall is not None else drill_s
    print(f"{run_dir}: {total:.0f} s" + ("" if wall is not None else " (the drill itself; the sandbox's start "
                                                                        "and stop not timed: run without --run-dir)"))
    for phase, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {phase:45s} {seconds:6.1f} s  {seconds / total:6.1%}")
    print("each experiment's method:")
    for title, seconds in sorted(methods.items(), key=lambda item: -item[1]):
        print(f"  {title[:60]:60s} {seconds:6.1f} s")


if __name__ == "__main__":
    main()
