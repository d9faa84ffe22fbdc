"""The probe process's own arrangements."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from drillkit.measure.probe_process import ProbeConfig, ProbeProcess


def test_the_schedules_start_spread_over_one_interval_not_all_at_once(tmp_path):
    probes = [{"endpoint": f"e{n}", "base_url": "http://127.0.0.1:9", "kind": "read"} for n in range(4)]
    config = ProbeConfig(endpoint="http://127.0.0.1:9", probes=probes, writers=["w0", "w1"], interval_s=0.06)

    async def first_slots() -> list[float]:
        process = ProbeProcess(tmp_path, config)
        phases = process._phases()
        return [next(phases) - process.origin for _ in range(6)]

    assert asyncio.run(first_slots()) == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04, 0.05])


def test_a_missing_sniffio_is_looked_for_once_not_at_every_lock():
    check = ("import sys, importlib.util; from drillkit.measure import probe_process; "
             "missing = importlib.util.find_spec('sniffio') is None; probe_process._cache_the_missing_sniffio(); "
             "print(missing == (sys.modules.get('sniffio', 0) is None))")
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True).stdout.strip() == "True"
