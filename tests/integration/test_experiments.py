"""Every experiment end to end on the real sandbox, with shortened durations; each must leave the
sandbox healthy and no DRILLKIT rule behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from drillkit.model.measurements import Measurements

from .conftest import ROOT, drillkit, wait_until

SHORT = ["--var", "fault_duration=8", "--var", "recovery_timeout=120", "--var", "stable_window=5"]


def run(experiment: str, target_file: Path, out: Path, *extra: str) -> dict:
    result = drillkit("run", str(ROOT / "experiments" / f"{experiment}.yaml"), "--target", str(target_file),
                      "--out", str(out), *SHORT, *extra, check=False)
    journal = json.loads((out / "journal.json").read_text())
    journal["exit_code"] = result.returncode
    journal["stderr"] = result.stderr
    return journal


def outputs(journal: dict) -> dict[str, object]:
    return {step["activity"]["name"]: step.get("output") for step in journal["run"]}


def assert_left_clean(sandbox) -> None:
    wait_until(lambda: sandbox.status()["healthy"], timeout_s=120, what="the sandbox to be healthy again")
    assert not _drillkit_chain_exists(), "the DRILLKIT chain outlived the experiment"


def test_db_primary_outage_fails_over_and_comes_back(sandbox, target_file, tmp_path):
    journal = run("db-primary-outage", target_file, tmp_path)
    assert journal["exit_code"] == 0, journal["stderr"]
    killed = outputs(journal)["kill-the-primary-host"]
    assert killed["fault"] == "kill_primary" and killed["member"] in ("pg-a", "pg-b")
    assert "injected_at" in killed and "injected_monotonic" in killed
    assert outputs(journal)["wait-until-users-are-served-again"]["recovered_after_s"] > 0
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    measured = Measurements.model_validate_json((tmp_path / "measurements.json").read_text())
    assert measured == Measurements.model_validate(journal["measurements"])
    line = measured.headline()
    assert line.status == "measured" and 0 < line.rto.lower <= line.rto.upper, line
    # T0 is an interval, [issued, confirmed], and these instants count from its upper end: users may see
    # the crash before the activity has confirmed it (never before it was issued)
    t0_width = line.fault.confirmed - line.fault.issued
    assert -t0_width <= line.detect_after_t0 < line.first_ok_after_t0 <= line.stable_after_t0
    # T_promoted is observed by polling Patroni, so users may see the new primary a poll earlier
    assert line.detect_after_t0 < line.promoted_after_t0 <= line.first_ok_after_t0 + 0.5
    assert line.recovery_mode == "before rollbacks", "Patroni's failover, not the rollback, brought users back"
    rpo = measured.rpo
    assert rpo.status == "measured" and rpo.acknowledged > 50
    assert rpo.lost == 0 and rpo.split_brain.count == 0, f"a streaming replica lost acknowledged writes: {rpo}"
    assert (tmp_path / "samples.csv").stat().st_size > 0 and (tmp_path / "ledger.csv").stat().st_size > 0
    assert_left_clean(sandbox)


def test_region_a_outage_moves_users_to_region_b(sandbox, target_file, tmp_path):
    journal = run("region-a-outage", target_file, tmp_path)
    assert journal["exit_code"] == 0, journal["stderr"]
    assert outputs(journal)["fail-region-a"]["components"] == ["app-a", "pg-a"]
    assert_left_clean(sandbox)


def test_region_partition_is_real_and_healed(sandbox, target_file, tmp_path):
    journal = run("region-partition", target_file, tmp_path)
    assert journal["exit_code"] == 0, journal["stderr"]
    assert outputs(journal)["partition-region-a"]["cut_from"] == ["region-b"]
    healed = journal["rollbacks"][0]["output"]
    assert healed["rules_removed"] > 0
    assert_left_clean(sandbox)


def test_replica_lag_failover_reports_what_patroni_did(sandbox, target_file, tmp_path):
    # When Patroni refuses the lagging replica, users wait the whole recovery_timeout for the rollback's
    # restore: 60 s, not the other tests' 120, keeps that outcome's run short (a promotion takes about 25 s).
    journal = run("replica-lag-failover", target_file, tmp_path, "--var", "recovery_timeout=60")
    # Promotion of a lagging replica, or a refusal: either is an honest outcome, never a crash.
    assert journal["exit_code"] in (0, 1), journal["stderr"]
    isolated = outputs(journal)["isolate-the-replica"]
    assert isolated["replica"] != isolated["primary"]
    assert all(r["status"] == "succeeded" for r in journal["rollbacks"])
    measured = Measurements.model_validate(journal["measurements"])
    rpo, line = measured.rpo, measured.headline()
    assert rpo.status == "measured"
    if line.promoted_after_t0 is not None and (rpo.lost or rpo.split_brain.count):
        # read against the first fault (the isolation): what the primary acknowledged while its replica was
        # cut off, and the promotion lost, was acknowledged after a fault
        assert rpo.split_brain.count > 0, "writes lost to a lagging replica must show as lost after the fault"
    if line.promoted_after_t0 is None:
        assert line.status in ("not recovered", "measured")  # refused promotion: recovery only by restore
    assert_left_clean(sandbox)


def test_load_spike_runs_locust_and_stops_it(sandbox, target_file, tmp_path):
    spike = ["--var", "spike_duration=6", "--var", "load_baseline=3"]
    journal = run("load-spike", target_file, tmp_path, *spike)
    assert journal["exit_code"] == 0, journal["stderr"]
    summary = outputs(journal)["the-spike-runs-its-course"]
    assert summary["requests"] > 50
    spike = outputs(journal)["start-the-spike"]
    stages = spike["stages"]
    assert stages[1]["users"] == 8 * stages[0]["users"]
    # T0 is the spike as Locust reported it running, not a declared offset after the launch
    assert spike["spike_users"] == stages[1]["users"] and spike["injected_monotonic"] >= spike["issued_monotonic"]
    assert_left_clean(sandbox)


def test_app_latency_slows_region_a_then_is_removed(sandbox, target_file, tmp_path):
    journal = run("app-latency", target_file, tmp_path, "--var", "fault_duration=4")
    assert journal["exit_code"] == 0, journal["stderr"]
    removed = journal["rollbacks"][0]["output"]["app_faults"]
    assert removed["latency_ms"] == 0
    assert_left_clean(sandbox)


def test_plain_chaos_run_works_against_the_sandbox(sandbox, target_file, tmp_path):
    chaos = Path(sys.executable).parent / "chaos"
    result = subprocess.run(
        [str(chaos), "--log-file", str(tmp_path / "chaos.log"), "run", "--rollback-strategy", "always",
         "--journal-path", str(tmp_path / "journal.json"), "experiments/db-primary-outage.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "DRILLKIT_TARGET": str(target_file), "DRILLKIT_OUT": str(tmp_path),
             "DRILLKIT_STABLE_WINDOW": "5"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "completed" and not journal["deviated"]
    measured = Measurements.model_validate_json((tmp_path / "measurements.json").read_text())  # under chaos too
    assert measured.headline().status == "measured" and measured.headline().rto.upper is not None
    assert Measurements.model_validate(journal["measurements"]) == measured
    assert_left_clean(sandbox)


def test_a_run_killed_mid_fault_is_healed_by_recover(sandbox, target_file, tmp_path):
    fault_log = Path(sandbox.state_dir) / "faults.jsonl"
    runner = subprocess.Popen(
        [sys.executable, "-m", "drillkit", "run", str(ROOT / "experiments" / "region-partition.yaml"),
         "--target", str(target_file), "--out", str(tmp_path), "--var", "fault_duration=120"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        injected = lambda: _open_faults(fault_log) == ["partition_region"]  # noqa: E731
        wait_until(injected, 60, "the partition to be injected")
        wait_until(_drillkit_chain_exists, 10, "the DRILLKIT rules")
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    assert _drillkit_chain_exists(), "SIGKILL must leave the fault in place for recover to heal"

    result = drillkit("recover", "--target", str(target_file), check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 fault(s) healed, 0 left open" in result.stdout
    assert _open_faults(fault_log) == []
    assert_left_clean(sandbox)


def _open_faults(fault_log: Path) -> list[str]:
    from drillkit.faultlog import FaultLog

    return [fault.fault for fault in FaultLog(fault_log).open_faults()]


def _drillkit_chain_exists() -> bool:
    from drillkit.sandbox import netfilter

    return netfilter.chain_exists()  # finds iptables in /usr/sbin even when PATH lacks it


def test_the_database_and_app_activities_no_experiment_uses_work_and_heal(sandbox, target_file):
    from drillkit.faults.app import actions as app
    from drillkit.faults.database import actions as database
    from drillkit.faults.database import probes as database_probes

    configuration = {"drillkit_target": str(target_file)}
    leader = database_probes.db_leader(configuration=configuration)

    switched = database.switchover(configuration=configuration)
    assert switched["previous_leader"] == leader and switched["new_leader"] != leader
    assert_left_clean(sandbox)

    terminated = database.terminate_connections(configuration=configuration)
    assert terminated["terminated"] >= 1  # the apps' pooled connections
    assert_left_clean(sandbox)

    paused = app.pause_app(region="region-b", configuration=configuration)
    assert "injected_monotonic" in paused
    app.resume_app(region="region-b", configuration=configuration)
    assert_left_clean(sandbox)

    stopped = database.stop_primary(configuration=configuration)
    assert stopped["member"] == switched["new_leader"]
    restored = database.restore_database(configuration=configuration)
    assert restored["healed"] == 1 and restored["leader"] == leader  # a clean stop hands over at once
    assert_left_clean(sandbox)
