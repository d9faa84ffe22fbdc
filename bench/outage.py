"""An outage of known length, injected from outside drillkit's fault library and its probers.

Run as its own process beside a measured run; it waits LEAD seconds, breaks the user path for exactly
SECONDS, repairs it, and prints one JSON line with every instant on the shared monotonic clock
(CLOCK_MONOTONIC is system-wide on Linux, so the measuring process can line them up):

    {"kind": ..., "stop_issued": ..., "stop_confirmed": ..., "resume_issued": ..., "resume_confirmed": ...}

Kinds:
  drop-lb      every packet to the load balancer's port is dropped (iptables DROP in the DRILLKIT chain,
               needs root): nothing answers, connections retry; removing the rule ends the outage.
  freeze-lb    the load balancer (Caddy) is SIGSTOPped: the kernel still accepts connections into its
               backlog; SIGCONT ends the outage.
  freeze-apps  both regions' apps are SIGSTOPped (the load balancer's health checks then see them fail).

    python bench/outage.py drop-lb --seconds 3 --lead 4 --state-dir .drillkit/sandbox --port 8080
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from drillkit.sandbox import netfilter

TAG = "drillkit:bench:outage"


def _pid(state_dir: Path, component: str) -> int:
    return int(json.loads((state_dir / "run" / f"{component}.pid").read_text())["pid"])


def _stopped(pid: int) -> bool:
    """True once the kernel reports the process stopped (state T): the freeze is confirmed."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0] in ("T", "t")


def _freeze(pids: list[int], freeze: bool) -> None:
    for pid in pids:
        os.killpg(pid, signal.SIGSTOP if freeze else signal.SIGCONT)
    while any(_stopped(pid) != freeze for pid in pids):
        time.sleep(0.0005)


def outage(kind: str, seconds: float, state_dir: Path, port: int) -> dict[str, float | str]:
    pids = {"freeze-lb": ["lb"], "freeze-apps": ["app-a", "app-b"]}.get(kind, [])
    pids = [_pid(state_dir, component) for component in pids]
    times: dict[str, float | str] = {"kind": kind, "seconds": seconds}
    times["stop_issued"] = time.monotonic()
    try:
        if kind == "drop-lb":
            netfilter.add(TAG, [netfilter.PortDropRule("127.0.0.1", port)])
        else:
            _freeze(pids, True)
        times["stop_confirmed"] = time.monotonic()
        time.sleep(max(0.0, seconds - (time.monotonic() - times["stop_confirmed"])))
    finally:
        times["resume_issued"] = time.monotonic()
        if kind == "drop-lb":
            netfilter.remove(TAG)
        else:
            _freeze(pids, False)
        times["resume_confirmed"] = time.monotonic()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["drop-lb", "freeze-lb", "freeze-apps"])
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--lead", type=float, default=0.0, help="wait this long before the outage")
    parser.add_argument("--state-dir", type=Path, default=Path(".drillkit/sandbox"))
    parser.add_argument("--port", type=int, default=8080, help="the load balancer's port")
    args = parser.parse_args()
    time.sleep(args.lead)
    print(json.dumps(outage(args.kind, args.seconds, args.state_dir, args.port)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
