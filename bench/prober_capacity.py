"""Prober capacity: the highest schedule rate one core sustains with fewer than 1 % of requests sent
more than 5 ms late.

A tiny HTTP server runs in a process of its own (uvicorn, one worker); the open-loop prober runs in
this process, on one core, at rising rates for a few seconds each. Prints, for each rate, the share
of requests that left more than 5 ms after their intended time, then the highest rate under 1 %.

Run:  .venv/bin/python bench/prober_capacity.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time

import httpx

from drillkit.measure import prober

HOST, PORT = "127.0.0.1", 18599
SERVER = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"items": []}'})
"""
LATE = 0.005


async def late_share(rate: float, seconds: float) -> tuple[float, int]:
    target = prober.ProbeTarget("bench", f"http://{HOST}:{PORT}", "read")
    stop = asyncio.Event()
    samples = []
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with httpx.AsyncClient(limits=limits, timeout=2.0) as client:
        async def send(intended: float) -> None:
            samples.extend(await prober.probe_once(client, target, intended, 2.0))

        asyncio.get_running_loop().call_later(seconds, stop.set)
        await prober.on_schedule(1 / rate, stop, send)
    late = sum(s.send_lag > LATE for s in samples)
    return late / max(len(samples), 1), len(samples)


def start_server(tmp: str) -> subprocess.Popen:
    with open(os.path.join(tmp, "bench_server.py"), "w") as handle:
        handle.write(SERVER)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench_server:app", "--host", HOST, "--port", str(PORT),
         "--log-level", "warning", "--no-access-log"], cwd=tmp)
    for _ in range(50):
        try:
            httpx.get(f"http://{HOST}:{PORT}/", timeout=0.2)
            return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the bench server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(tmp)
        try:
            os.sched_setaffinity(0, {0})  # the prober gets one core
            best = 0.0
            for rate in (50, 100, 200, 300, 400, 500, 600, 800, 1000):
                share, count = asyncio.run(late_share(rate, args.seconds))
                print(f"{rate:6d} requests/s: {count:6d} sent, {share:7.2%} more than 5 ms late")
                if share < 0.01:
                    best = rate
                else:
                    break
            print(f"highest rate with < 1 % sent more than 5 ms late, on one core: {best:.0f} requests/s")
            print("drills probe at 20 requests/s per endpoint (4 endpoints + 2 ledger writers = 100/s)")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
