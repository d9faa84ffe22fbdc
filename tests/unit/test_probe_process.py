"""The probe process's own arrangements."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest

from drillkit.measure.probe_process import ProbeConfig, ProbeProcess
from drillkit.model.measurements import Instrument, Measurements


def test_the_schedules_start_spread_over_one_interval_not_all_at_once(tmp_path):
    probes = [{"endpoint": f"e{n}", "base_url": "http://127.0.0.1:9", "kind": "read"} for n in range(4)]
    config = ProbeConfig(endpoint="http://127.0.0.1:9", probes=probes, writers=["w0", "w1"], interval_s=0.06)

    async def first_slots() -> list[float]:
        process = ProbeProcess(tmp_path, config)
        phases = process._phases()
        return [next(phases) - process.origin for _ in range(6)]

    assert asyncio.run(first_slots()) == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04, 0.05])


def test_the_probe_process_records_its_own_cpu_and_priority_and_the_report_shows_them(tmp_path):
    from drillkit.measure import replay
    from drillkit.measure.raw import read_samples
    from drillkit.score.run import _instrument
    from tests.unit.local_http import serving

    async def ok(asked):
        return 200, {"items": []}

    async def run() -> None:
        async with serving(ok) as url:
            config = {"endpoint": url, "writers": [], "interval_s": 0.02, "leader_poll_s": 1.0,
                      "probes": [{"endpoint": "global", "base_url": url, "kind": "read"}]}
            (tmp_path / "probe-config.json").write_text(json.dumps(config))
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "drillkit.measure.probe_process", str(tmp_path),
                stderr=asyncio.subprocess.DEVNULL)
            await asyncio.sleep(2.0)
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 10) == 0

    asyncio.run(run())
    use = replay.process_use(tmp_path)
    assert use is not None and 0 < use.cpu_s < use.measured_s and 1.0 < use.measured_s < 3.0
    expected_nice = -10 if os.geteuid() == 0 else os.getpriority(os.PRIO_PROCESS, 0)
    assert use.nice == expected_nice and (use.priority == "raised") == (os.geteuid() == 0)
    samples = read_samples(tmp_path / "samples.csv")
    assert len(samples) > 50 and {(s.status, s.error) for s in samples} == {(200, "")}  # client and server agree
    measured = Measurements.model_construct(instrument=Instrument(probers=[], process=use))
    figures = _instrument(measured)
    assert figures.cpu_share == round(use.cpu_s / use.measured_s, 3) and figures.priority == f"nice {use.nice}"
