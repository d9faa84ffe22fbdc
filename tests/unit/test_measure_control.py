"""The measure control: where it writes, which run it belongs to, where T0 comes from, and that an
interrupted run still ends with its measurements."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from drillkit.controls import measure
from drillkit.measure.samples import FaultEvent
from tests.unit.test_measurement_session import target  # noqa: F401 - the local Feed Hub fixture


def test_without_a_chosen_folder_measurements_go_to_reports_run_id_never_the_working_directory(monkeypatch):
    monkeypatch.delenv(measure.OUT_ENV, raising=False)
    assert measure.out_dir(None, "20261126T0700Z-1-abc") == Path("reports/20261126T0700Z-1-abc")
    assert measure.out_dir({"drillkit_out": "/tmp/x"}, "r") == Path("/tmp/x")
    monkeypatch.setenv(measure.OUT_ENV, "/tmp/y")
    assert measure.out_dir({}, "r") == Path("/tmp/y")


def test_under_plain_chaos_run_the_control_makes_a_run_id_and_exports_it(monkeypatch):
    monkeypatch.delenv(measure.RUN_ID_ENV, raising=False)
    made = measure.ensure_run_id({})
    assert made and measure.ensure_run_id(None) == made
    assert measure.ensure_run_id({"drillkit_run_id": "given"}) == "given"


def test_t0_is_the_interval_from_issue_to_confirmation():
    fault = measure.fault_of_output({"fault": "kill_primary", "issued_monotonic": 10.0,
                                     "injected_monotonic": 10.4}, "kill the primary")
    assert fault == FaultEvent("kill_primary", "kill the primary", 10.0, 10.4)


def test_a_fault_whose_activity_never_returned_is_taken_from_the_fault_log():
    outputs = [("f1", FaultEvent("kill_primary", "kill the primary", 10.0, 10.4))]
    marks = [{"fault_id": "f1", "fault": "kill_primary", "issued": 9.9, "confirmed": 10.4, "error": None},
             {"fault_id": "f2", "fault": "partition_region", "issued": 30.0, "confirmed": 30.2, "error": None},
             {"fault_id": "f3", "fault": "partition_region", "issued": 20.0, "confirmed": None, "error": "no iptables"}]
    faults = measure.merged_faults(outputs, marks)
    assert [(f.fault, f.activity, f.issued, f.confirmed, f.error) for f in faults] == [
        ("kill_primary", "kill the primary", 10.0, 10.4, None),
        ("partition_region", "", 20.0, None, "no iptables"),
        ("partition_region", "", 30.0, 30.2, None),
    ]


def configuration(target, tmp_path: Path) -> dict:  # noqa: F811
    data = target.model_dump(mode="json")
    data["state_dir"] = str(tmp_path / "state")
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(data))
    return {"drillkit_target": str(path), "drillkit_out": str(tmp_path / "out"), "drillkit_run_id": "run-1"}


def test_an_interrupted_run_still_stops_the_prober_and_writes_its_measurements(target, tmp_path, monkeypatch):  # noqa: F811
    class FaultLog:
        def __init__(self, path: Path) -> None:
            pass

        def marks(self, run_id: str) -> list[dict]:
            assert run_id == "run-1"
            return [{"fault_id": "f9", "fault": "partition_region", "issued": time.monotonic() - 0.5,
                     "confirmed": time.monotonic() - 0.4, "error": None}]

    monkeypatch.setattr("drillkit.faultlog.FaultLog", FaultLog)
    measure.configure_control(configuration(target, tmp_path), interval_s=0.1, write_interval_s=0.2,
                              reconcile_timeout_s=3)
    measure.before_experiment_control({})
    time.sleep(1.0)
    measure.before_rollback_control({})
    measure.cleanup_control()  # SIGTERM in the pause: no after_experiment_control
    assert measure.live() is None
    written = json.loads((tmp_path / "out" / "measurements.json").read_text())
    assert written["stopped"] == "interrupted"
    assert [f["fault"] for f in written["faults"]] == ["partition_region"]
    assert written["rollbacks"] is not None
    assert (tmp_path / "out" / "stored.json").exists()
    lines = (tmp_path / "out" / "samples.csv").read_text().splitlines()
    assert lines[0].startswith("# anchor") and len(lines) > 20


def test_settings_given_as_strings_are_read_as_their_type():
    settings = measure._settings({"probe_regions": "false", "stable_window_s": "15", "writers": "3"})
    assert (settings.probe_regions, settings.stable_window_s, settings.writers) == (False, 15.0, 3)
