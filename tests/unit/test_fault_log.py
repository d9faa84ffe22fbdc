"""The fault log: written before injection, healed by rollbacks, robust to a crash mid-write."""

from __future__ import annotations

from drillkit.faults.log import FaultLog


def test_an_opened_fault_stays_open_until_its_rollback_heals_it(tmp_path):
    log = FaultLog(tmp_path / "faults.jsonl")
    log.opened("partition_region", "heal_partition", {"region": "region-a"}, region="region-a")
    log.opened("kill_app", "restart_app", {"region": "region-b"})
    assert [f.fault for f in log.open_faults()] == ["partition_region", "kill_app"]

    assert log.healed("heal_partition", {"region": "region-b"}) == 0  # other arguments: not this one
    assert log.healed("heal_partition", {"region": "region-a"}) == 1
    assert [f.fault for f in log.open_faults()] == ["kill_app"]


def test_one_rollback_heals_every_fault_it_repairs(tmp_path):
    log = FaultLog(tmp_path / "faults.jsonl")
    log.opened("kill_primary", "restore_database", {})
    log.opened("stop_primary", "restore_database", {})
    assert log.healed("restore_database", {}) == 2
    assert log.open_faults() == []


def test_a_line_torn_by_a_crash_neither_hides_nor_corrupts_other_records(tmp_path):
    path = tmp_path / "faults.jsonl"
    log = FaultLog(path)
    log.opened("kill_app", "restart_app", {"region": "region-a"})
    with path.open("a") as handle:
        handle.write('{"event": "opened", "id": "torn", "fau')  # the process died here
    log.opened("pause_app", "resume_app", {"region": "region-b"})
    assert [f.fault for f in FaultLog(path).open_faults()] == ["kill_app", "pause_app"]


def test_a_missing_log_means_nothing_is_open(tmp_path):
    assert FaultLog(tmp_path / "absent.jsonl").open_faults() == []
