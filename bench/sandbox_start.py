"""Cold and warm start times of the embedded sandbox, and how long `down` takes.

Run:  .venv/bin/python bench/sandbox_start.py [--runs 3]
Prints one line per run. Target: a cold `up` within 45 s on a 2-core machine.
Uses its own ports and a temporary state dir, so it can run beside a developer's sandbox.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PORTS = "ports: {etcd_client: 22379, etcd_peer: 22380, postgres: 25432, patroni_api: 28008, " \
        "app: 28000, lb: 28080, lb_admin: 22019}\n"


def timed(*args: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "drillkit", *args], check=True, capture_output=True)
    return time.monotonic() - started


def one_run(workdir: Path) -> tuple[float, float, float]:
    state = workdir / "state"
    config = workdir / "bench.yaml"
    config.write_text(PORTS)
    try:
        cold = timed("sandbox", "up", "--state-dir", str(state), "--config", str(config))
        timed("sandbox", "down", "--state-dir", str(state))
        warm = timed("sandbox", "up", "--state-dir", str(state))
    finally:
        down = timed("sandbox", "down", "--state-dir", str(state), "--purge")
    return cold, warm, down


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    results = []
    for run in range(1, runs + 1):
        with tempfile.TemporaryDirectory(prefix="drillkit-bench-") as workdir:
            cold, warm, down = one_run(Path(workdir))
        results.append(cold)
        print(f"run {run}: cold up {cold:5.1f} s   warm up {warm:5.1f} s   down {down:5.1f} s")
    print(f"cold up: median {statistics.median(results):.1f} s, worst {max(results):.1f} s (target < 45 s)")


if __name__ == "__main__":
    main()
