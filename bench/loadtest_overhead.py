"""drillkit's load-test overhead: requests per second of `drillkit loadtest` vs plain `locust`, same
locustfile, same users, same duration, against the sandbox's load balancer. Prints both and their
ratio (drillkit's overhead should stay within 5 %).

Run with the sandbox up:  .venv/bin/python bench/loadtest_overhead.py [--users 40] [--seconds 30]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HOST = "http://127.0.0.1:8080"
LOCUSTFILE = "loadtests/locustfile.py"


def plain_locust(users: int, seconds: int, out: Path) -> float:
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--host", HOST, "-u", str(users),
         "-r", str(users), "-t", f"{seconds}s", "--csv", str(out / "plain"), "--only-summary"],
        check=True, capture_output=True)
    with (out / "plain_stats.csv").open() as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    return float(total["Requests/s"])


def drillkit_loadtest(users: int, seconds: int, out: Path) -> float:
    profile = out / "flat.yaml"
    profile.write_text(f"name: flat\nstages:\n  - {{duration_s: {seconds}, users: {users}, spawn_rate: {users}}}\n")
    subprocess.run([sys.executable, "-m", "drillkit", "loadtest", str(profile), "--host", HOST, "--out",
                    str(out / "drillkit")], check=False, capture_output=True)
    result = json.loads((out / "drillkit" / "loadtest.json").read_text())
    return result["requests"] / result["duration_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"{args.users} users for {args.seconds} s against {HOST}, {args.rounds} rounds, alternating")
    plain, ours = [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            plain.append(plain_locust(args.users, args.seconds, Path(tmp)))
            ours.append(drillkit_loadtest(args.users, args.seconds, Path(tmp)))
        print(f"  plain locust {plain[-1]:7.1f} req/s   drillkit loadtest {ours[-1]:7.1f} req/s")
    p, d = sum(plain) / len(plain), sum(ours) / len(ours)
    print(f"mean: plain locust {p:.1f} req/s, drillkit loadtest {d:.1f} req/s, ratio {d / p:.3f} "
          f"(overhead {max(0.0, 1 - d / p):.1%}; target within 5 %)")


if __name__ == "__main__":
    main()
