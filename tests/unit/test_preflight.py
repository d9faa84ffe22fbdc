"""The preflight: each rule, without servers (the live checks meet closed ports on loopback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from drillkit import preflight
from drillkit.model import needs
from drillkit.model.target import load_target
from drillkit.sandbox import netfilter

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_TARGET = ROOT / "drills" / "targets" / "sandbox.yaml"
INVALID = ROOT / "tests" / "fixtures" / "invalid"
PLAIN = ROOT / "tests" / "fixtures" / "chaos" / "plain.yaml"
CLOSED = {"app": 1, "patroni_api": 2, "lb": 3}  # ports nothing listens on


@pytest.fixture
def target_file(tmp_path: Path) -> Path:
    """A sandbox target whose state dir and ports are this test's own, with nothing running."""
    regions = {
        name: {"address": address,
               "app": {"component": f"app-{suffix}", "url": f"http://{address}:{CLOSED['app']}"},
               "database": {"component": f"pg-{suffix}", "patroni_api": f"http://{address}:{CLOSED['patroni_api']}"}}
        for name, address, suffix in (("region-a", "127.0.10.1", "a"), ("region-b", "127.0.20.1", "b"))
    }
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump({
        "name": "unit", "kind": "sandbox", "driver": {"type": "process", "state_dir": str(tmp_path / "state")},
        "endpoint": f"http://127.0.0.1:{CLOSED['lb']}", "regions": regions,
    }))
    return path


def experiment(module: str, func: str, **arguments) -> dict:
    return {"title": "t", "description": "d", "method": [
        {"type": "action", "name": "a", "provider": {"type": "python", "module": module, "func": func,
                                                     "arguments": arguments}}]}


PARTITION = experiment("drillkit.faults.region.actions", "partition_region", region="region-a")
KILL = experiment("drillkit.faults.database.actions", "kill_primary")


def by_name(report: preflight.Report) -> dict[str, preflight.Check]:
    return {check.name: check for check in report.checks}


def test_network_faults_need_root_and_iptables_and_process_faults_need_signals():
    assert needs.needs_of([PARTITION]) == {needs.NETWORK}
    assert needs.needs_of([KILL]) == {needs.SIGNALS}
    assert needs.needs_of([yaml.safe_load(PLAIN.read_text())]) == set()


def test_a_plain_chaos_toolkit_experiment_does_not_use_the_target():
    assert not preflight.uses_target([yaml.safe_load(PLAIN.read_text())])
    assert preflight.uses_target([KILL])


def test_a_missing_iptables_fails_the_network_check_with_what_to_do(target_file, monkeypatch):
    monkeypatch.setenv(netfilter.BINARY_ENV, "/nonexistent/iptables")
    report = preflight.static_checks(load_target(target_file), {needs.NETWORK})
    check = by_name(report)["iptables"]
    assert not check.ok and "install the Debian package iptables" in check.remedy
    assert report.exit_code == 3


def test_iptables_is_found_in_sbin_when_path_lacks_it(monkeypatch, tmp_path):
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "iptables").write_text("#!/bin/sh\n")
    (sbin / "iptables").chmod(0o755)
    monkeypatch.delenv(netfilter.BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    monkeypatch.setattr(netfilter, "SYSTEM_DIRS", (str(sbin),))
    assert netfilter.binary() == str(sbin / "iptables")


def test_without_root_network_faults_fail_the_root_check(target_file, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    check = by_name(preflight.static_checks(load_target(target_file), {needs.NETWORK}))["root"]
    assert not check.ok and "run drillkit as root" in check.remedy


def test_network_faults_on_a_kubernetes_target_need_neither_root_nor_iptables(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 10001)  # the drill's CronJob runs as uid 10001
    example = load_target(ROOT / "drills" / "targets" / "kubernetes.example.yaml")
    report = preflight.static_checks(example, {needs.NETWORK})
    assert not {"root", "iptables"} & {check.name for check in report.checks}


def test_a_kubernetes_target_with_an_unbound_member_is_invalid_input():
    report = preflight.static_checks(load_target(INVALID / "target-kubernetes.yaml"), set())
    assert not by_name(report)["target"].ok
    assert report.exit_code == 2
    assert preflight.live_checks(load_target(INVALID / "target-kubernetes.yaml")).checks == []


def test_a_component_the_sandbox_lacks_is_invalid_input():
    report = preflight.static_checks(load_target(INVALID / "target-missing-component.yaml"), set())
    assert "no part named 'app-x'" in by_name(report)["target"].detail
    assert report.exit_code == 2


def test_every_component_the_load_balancer_and_the_leader_are_asked(target_file):
    report = preflight.live_checks(load_target(target_file))
    failed = {(check.name, check.subject) for check in report.failures}
    assert {("component", name) for name in ("app-a", "app-b", "pg-a", "pg-b")} <= failed
    assert ("database-leader", "database") in failed
    assert any(name == "load-balancer" for name, _ in failed)
    assert report.exit_code == 3


def test_a_new_or_empty_run_folder_passes(tmp_path):
    assert all(check.ok for check in preflight.run_folder_checks(tmp_path / "new", force=False))
    assert all(check.ok for check in preflight.run_folder_checks(tmp_path, force=False))


def test_a_run_folder_on_a_file_is_invalid_input(tmp_path):
    (tmp_path / "file").write_text("x")
    [check] = preflight.run_folder_checks(tmp_path / "file", force=True)
    assert not check.ok and check.kind == "input" and "is a file" in check.detail


def test_a_folder_that_is_not_a_run_is_refused_even_with_force():
    folder = preflight._folder_check(Path("/etc"), force=True)
    assert not folder.ok and folder.kind == "input" and "not a drillkit run's" in folder.detail


def test_an_earlier_run_folder_needs_force(tmp_path):
    (tmp_path / "journal.json").write_text("{}")
    assert not preflight._folder_check(tmp_path, force=False).ok
    assert preflight._folder_check(tmp_path, force=True).ok


HOLD = ("import sys, time\nfrom pathlib import Path\nfrom drillkit.lock import target_lock\n"
        "from drillkit.model.target import load_target\n"
        "with target_lock(load_target(Path(sys.argv[1])), 'r-1'):\n    print('held', flush=True)\n    time.sleep(30)\n")


def test_a_live_lock_holder_is_named_and_a_dead_one_ignored(target_file):
    target = load_target(target_file)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(target_file)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        check = preflight._lock_check(target)
        assert not check.ok and f"pid {holder.pid}" in check.detail and "run r-1" in check.detail
    finally:
        holder.kill()
        holder.wait()
    assert preflight._lock_check(target).ok


def test_the_test_only_seam_marks_a_check_skipped_never_ok(target_file, monkeypatch):
    monkeypatch.setenv(netfilter.BINARY_ENV, "")
    monkeypatch.setenv(preflight.SKIP_ENV, "iptables")
    report = preflight.static_checks(load_target(target_file), {needs.NETWORK})
    check = by_name(report)["iptables"]
    assert check.skipped and check.result == "skipped" and "test-only" in check.detail
    assert "iptables" not in {c.name for c in report.failures}


def test_input_failures_outrank_environment_failures():
    report = preflight.Report([preflight.Check("a", "x", False, "", kind="environment"),
                               preflight.Check("b", "y", False, "", kind="input")])
    assert report.exit_code == 2
    assert "a (x)" in report.message() and "b (y)" in report.message()


def test_a_measured_plan_needs_the_measurement_and_a_plain_one_does_not():
    control = {"name": "measure", "provider": {"type": "python", "module": "drillkit.controls.measure"}}
    measured = {"controls": [control]}
    assert needs.MEASURE in needs.needs_of([measured])
    assert needs.MEASURE not in needs.needs_of([{"method": []}])


def _ledger_check(target_file, monkeypatch, dsn: str):
    """The live preflight of TARGET_FILE given a DSN ledger through $UNIT_LEDGER_DSN; the report and its check."""
    monkeypatch.setenv("UNIT_LEDGER_DSN", dsn)
    spec = yaml.safe_load(target_file.read_text()) | {"ledger": {"mode": "dsn", "dsn": {"env": "UNIT_LEDGER_DSN"}}}
    target_file.write_text(yaml.safe_dump(spec))
    report = preflight.live_checks(load_target(target_file), {needs.MEASURE})
    return report, next(check for check in report.checks if check.name == "ledger")


def test_a_dsn_ledger_whose_database_does_not_answer_fails_the_preflight_without_showing_its_password(
        target_file, monkeypatch):
    report, ledger = _ledger_check(target_file, monkeypatch,
                                   "host=127.0.0.1 port=1 user=u dbname=x password=pw-0ddba11 connect_timeout=2")
    assert not ledger.ok and ledger.kind == "environment" and "did not answer" in ledger.detail
    assert "pw-0ddba11" not in str(report.to_dict())
    assert "ledger" not in {c.name for c in preflight.live_checks(load_target(target_file)).checks}


def test_a_malformed_ledger_dsn_fails_the_preflight_as_input_without_quoting_any_part_of_it(target_file, monkeypatch):
    # libpq's own message quotes the word it stumbled on: here, the password's second half
    report, ledger = _ledger_check(target_file, monkeypatch,
                                   "host=127.0.0.1 port=1 user=u dbname=x password=pw 0ddba11ed")
    assert not ledger.ok and ledger.kind == "input" and "$UNIT_LEDGER_DSN" in ledger.detail
    assert "0ddba11ed" not in str(report.to_dict())
