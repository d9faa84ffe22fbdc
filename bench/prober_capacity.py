"""Prober capacity: the highest scheduled rate the real probe process sustains on one core with a
p99 send lag under 5 ms, CSV logging on, against the running sandbox under load; and the CPU one
request costs with the instrument's client (drillkit.measure.http1) beside httpx, the client it replaced.

The probe process (drillkit.measure.probe_process, fresh connection per request, as in a drill) runs
pinned to one core with taskset, one prober on the global endpoint at rising rates; a load generator
pinned to another core writes through the same endpoint meanwhile. For each rate it prints the
requests scheduled, how many left, the send lag (sent − intended) p50/p99/max and the answers' errors;
a slot that never left counts as infinitely late; the probe process's own CPU (of its core) and the
machine's idle share say whether the prober or the machine ran out. Then the highest rate whose p99
stayed under 5 ms.

Before the instrument's own client (2026-11-26, httpx, same machine and load): 200 requests/s at p99
2.7 ms; 300/s p99 7.1 ms; 400/s p99 11.4 ms; at 600/s the prober fell behind for good.

Needs the sandbox up, and the sandbox lock like everything that touches it:
    flock /tmp/drillkit-sandbox.lock env PYTHONPATH=$PWD/src .venv/bin/python bench/prober_capacity.py
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

RATES = (50, 100, 150, 200, 300, 400, 600, 800, 1000, 1200, 1500, 2000)
CPU_REQUESTS = 500  # sequential requests per client for the CPU-per-request comparison
BEHIND_S = 1.0  # a p99 this late: the prober has fallen behind for good, higher rates say no more
P99_LIMIT_S = 0.005
WARMUP_S = 1.0
LOAD = """
import asyncio, sys, time, httpx
async def main(url, rate):
    async with httpx.AsyncClient(timeout=2.0) as http:
        start, tick, tasks = time.monotonic(), 0, set()
        while True:
            await asyncio.sleep(max(0.0, start + tick / rate - time.monotonic()))
            tick += 1
            task = asyncio.create_task(http.post(url + "/api/items", json={"tenant": "bench", "title": "load"}))
            tasks.add(task)
            task.add_done_callback(lambda t: (tasks.discard(t), t.exception()))
asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


def run_rate(endpoint: str, rate: float, seconds: float, core: int, kind: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        config = {"endpoint": endpoint, "writers": [], "interval_s": 1 / rate, "timeout_s": 2.0,
                  "probes": [{"endpoint": "global", "base_url": endpoint, "kind": kind}],
                  "leader_poll_s": 1.0}
        Path(out, "probe-config.json").write_text(json.dumps(config))
        process = subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-m",
                                    "drillkit.measure.probe_process", out], stderr=subprocess.DEVNULL)
        time.sleep(WARMUP_S)
        before = psutil.cpu_times()
        time.sleep(seconds)
        idle = idle_share(before, psutil.cpu_times())
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        own = json.loads(Path(out, "probe.json").read_text())["process"]
        return {**lag_figures(Path(out, "samples.csv")), "probe_cpu": own["cpu_s"] / own["measured_s"],
                "machine_idle": idle}


def idle_share(before: Any, after: Any) -> float:
    """The machine's idle share of all its cores between two psutil.cpu_times() readings."""
    total = sum(after) - sum(before)
    return (after.idle - before.idle) / total if total > 0 else 0.0


def lag_figures(path: Path) -> dict[str, float]:
    with path.open() as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    first = min(float(r["intended"]) for r in rows) + WARMUP_S
    rows = [r for r in rows if float(r["intended"]) >= first]
    lags = sorted(float(r["sent"]) - float(r["intended"]) if r["sent"] else math.inf for r in rows)
    errors = sum(bool(r["error"]) for r in rows)
    return {"scheduled": len(rows), "sent": sum(math.isfinite(x) for x in lags), "errors": errors,
            "p50": lags[len(lags) // 2], "p99": lags[min(len(lags) - 1, int(0.99 * len(lags)))], "max": lags[-1]}


CPU_PER_REQUEST = """
import asyncio, sys, time, httpx
from drillkit.measure import http1
url, n = sys.argv[1] + "/api/feed?limit=5", int(sys.argv[2])
async def lean():
    for _ in range(n):
        assert (await http1.request("GET", url)).status == 200
async def old():  # as the probers used it: no pool, a connection per request
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=2.0, headers={"connection": "close"}) as http:
        for _ in range(n):
            assert (await http.get(url)).status_code == 200
for name, run in (("httpx", old), ("drillkit.measure.http1", lean)):
    started = time.process_time()
    asyncio.run(run())
    print(f"{name}: {(time.process_time() - started) / n * 1000:.3f} ms of CPU per request")
"""


def cpu_per_request(endpoint: str, core: int) -> str:
    """Each client's CPU per request, sequential, in a process pinned to CORE."""
    done = subprocess.run(["taskset", "-c", str(core), sys.executable, "-c", CPU_PER_REQUEST, endpoint,
                           str(CPU_REQUESTS)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def rate_before(rate: float) -> float:
    """The rate tried before RATE (0 for the first): `best` only grows through consecutive passes."""
    index = RATES.index(rate)
    return RATES[index - 1] if index else 0.0


def ms(seconds: float) -> str:
    return "never" if math.isinf(seconds) else f"{seconds * 1000:7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", default="http://127.0.0.1:8080")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--core", type=int, default=0, help="the one core the probe process gets")
    parser.add_argument("--load-rate", type=float, default=100.0, help="background writes a second")
    parser.add_argument("--kind", choices=("read", "live"), default="read")
    args = parser.parse_args()
    httpx.get(f"{args.endpoint}/api/feed?limit=1", timeout=2.0).raise_for_status()  # the sandbox must be up
    other = (args.core + 1) % (os.cpu_count() or 1)
    load = subprocess.Popen(["taskset", "-c", str(other), sys.executable, "-c", LOAD, args.endpoint,
                             str(args.load_rate)], stderr=subprocess.DEVNULL)
    best = 0.0
    try:
        print(f"CPU per request ({CPU_REQUESTS} sequential reads each, load on):")
        print("  " + cpu_per_request(args.endpoint, args.core).replace("\n", "\n  "), flush=True)
        print(f"probe process on core {args.core}, {args.kind} via {args.endpoint}; "
              f"load {args.load_rate:.0f} writes/s on core {other}")
        for rate in RATES:
            f = run_rate(args.endpoint, rate, args.seconds, args.core, args.kind)
            print(f"{rate:6d}/s: {f['scheduled']:6d} scheduled, {f['sent']:6d} sent, {f['errors']:5d} errors; "
                  f"send lag ms p50 {ms(f['p50'])} p99 {ms(f['p99'])} max {ms(f['max'])}; "
                  f"probe CPU {f['probe_cpu']:.0%} of its core, machine idle {f['machine_idle']:.0%}", flush=True)
            if f["p99"] < P99_LIMIT_S and best == rate_before(rate):
                best = rate
            if f["p99"] >= BEHIND_S:
                break
    finally:
        load.terminate()
        load.wait()
    print(f"highest scheduled rate with p99 send lag < 5 ms on one core: {best:.0f} requests/s (goal >= 1000)")


if __name__ == "__main__":
    main()
