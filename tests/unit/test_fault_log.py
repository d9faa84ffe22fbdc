"""The fault log: written before injection, healed by rollbacks, robust to a crash mid-write."""

from __future__ import annotations

from drillkit.faultlog import FaultLog


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


def test_every_record_carries_the_run_id_and_only_that_runs_faults_are_listed_for_it(tmp_path):
    log = FaultLog(tmp_path / "faults.jsonl")
    log.opened("kill_app", "restart_app", {"region": "region-a"}, "run-1")
    log.opened("pause_app", "resume_app", {"region": "region-b"}, "run-2")
    log.opened("kill_primary", "restore_database", {}, "drill-3/failover-1")
    assert [f.fault for f in log.open_faults("run-1")] == ["kill_app"]
    assert [f.run_id for f in log.open_faults()] == ["run-1", "run-2", "drill-3/failover-1"]
    assert [f.fault for f in log.open_faults("drill-3")] == ["kill_primary"]  # a drill owns its experiments'
    assert log.open_faults("run") == []  # a prefix of a run id is not its parent


def test_a_fault_closed_as_not_injected_is_no_longer_open_and_its_mark_carries_the_error(tmp_path):
    log = FaultLog(tmp_path / "faults.jsonl")
    fault_id = log.opened("partition_region", "heal_partition", {"region": "region-a"}, "run-1", 10.0)
    log.failed(fault_id, "run-1", "network faults need iptables")
    assert [f.id for f in log.open_faults()] == [fault_id]  # failed, yet maybe in place: still open
    log.not_injected(fault_id, "run-1", "network faults need iptables")
    assert log.open_faults() == []
    assert log.marks("run-1") == [{"fault_id": fault_id, "fault": "partition_region", "issued": 10.0,
                                   "confirmed": None, "error": "network faults need iptables"}]


def test_marks_give_each_faults_issued_and_confirmed_times_for_one_run_only(tmp_path):
    log = FaultLog(tmp_path / "faults.jsonl")
    first = log.opened("kill_app", "restart_app", {"region": "region-a"}, "run-1", 100.0)
    log.confirmed(first, "run-1", 100.25)
    other = log.opened("kill_app", "restart_app", {"region": "region-a"}, "run-2", 200.0)
    log.confirmed(other, "run-2", 200.5)
    assert log.marks("run-1") == [{"fault_id": first, "fault": "kill_app", "issued": 100.0,
                                   "confirmed": 100.25, "error": None}]
