"""The guard of a real target: a production run needs its name typed in full and runs only the faults its
target allows, a staging run is confirmed on a terminal or with --yes, and every dry-run plan shows each
fault's blast radius. Nothing is injected, logged or written when a run is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from drillkit import cli
from drillkit.drill import blast_radius
from drillkit.drill.drill import outline as drill_outline
from drillkit.drill.runner import outline
from drillkit.validation import guard_problems, plan_drill, plan_run

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "drills" / "targets" / "sandbox.yaml"
EXPERIMENTS = ROOT / "experiments"
PLAIN = ROOT / "tests" / "fixtures" / "chaos" / "plain.yaml"


def drillkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False, stdin=subprocess.DEVNULL)  # no terminal


def a_target(tmp_path: Path, kind: str, name: str, **extra) -> Path:
    """The sandbox target renamed, of KIND, with a state dir of its own and closed ports: nothing runs there."""
    spec = yaml.safe_load(SANDBOX.read_text())
    spec.update(name=name, kind=kind, endpoint="http://127.0.0.1:3", **extra)
    spec["driver"]["state_dir"] = str(tmp_path / "state")
    for region in spec["regions"].values():
        region["app"]["url"] = region["app"]["url"].rsplit(":", 1)[0] + ":1"
        region["database"]["patroni_api"] = region["database"]["patroni_api"].rsplit(":", 1)[0] + ":2"
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def nothing_was_touched(tmp_path: Path) -> bool:
    return not (tmp_path / "state" / "faults.jsonl").exists() and not (tmp_path / "out").exists()


@pytest.fixture
def production(tmp_path: Path) -> Path:
    return a_target(tmp_path, "production", "prod-eu", allowed_faults=["inject_http_faults", "remove_http_faults"])


def test_a_production_run_without_confirm_target_is_refused_with_exit_2_and_injects_nothing(production, tmp_path):
    result = drillkit("run", "experiments/app-latency.yaml", "--target", str(production),
                      "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "'prod-eu' is a production target: pass --confirm-target prod-eu" in " ".join(result.stderr.split())
    assert nothing_was_touched(tmp_path)


@pytest.mark.parametrize("typed", ["prod", "prod-eu-2", "PROD-EU"])
def test_a_confirmation_that_is_not_the_target_name_in_full_is_refused(production, tmp_path, typed):
    result = drillkit("run", "experiments/app-latency.yaml", "--target", str(production),
                      "--out", str(tmp_path / "out"), "--confirm-target", typed)
    assert result.returncode == 2, result.stderr
    assert f"--confirm-target '{typed}' does not name the target 'prod-eu'" in " ".join(result.stderr.split())
    assert nothing_was_touched(tmp_path)


def test_a_fault_the_production_target_does_not_allow_is_refused_naming_it_and_the_allowed_list(production, tmp_path):
    result = drillkit("drill", "drills/quarterly.yaml", "--target", str(production), "--out", str(tmp_path / "out"),
                      "--confirm-target", "prod-eu")
    assert result.returncode == 2, result.stderr
    said = " ".join(result.stderr.split())
    assert "the fault 'kill_primary' (kill-the-primary-host) is not allowed on 'prod-eu' " \
           "(allowed: inject_http_faults, remove_http_faults)" in said
    assert "'inject_http_faults'" not in said, "an allowed fault is not named"
    assert "leader: the drill switches the database leader over to pg-a before each experiment, and " \
           "'switchover' is not allowed" in said
    assert nothing_was_touched(tmp_path)


def test_on_production_a_rollback_that_is_not_a_drillkit_heal_must_be_allowed_too(production):
    problems = guard_problems(plan_run(PLAIN, production), "prod-eu")
    assert [problem.split("the fault ")[1].split(" is not")[0] for problem in problems] == [
        "'touch-nothing' (touch-nothing)", "'say-done' (say-done)"]


def test_a_confirmed_production_run_of_allowed_faults_passes_the_guard(production, tmp_path):
    plan = plan_run(EXPERIMENTS / "app-latency.yaml", production)
    assert guard_problems(plan, "prod-eu") == []
    result = drillkit("run", "experiments/app-latency.yaml", "--target", str(production),
                      "--out", str(tmp_path / "out"), "--confirm-target", "prod-eu")
    assert result.returncode == 3 and "preflight:" in result.stderr, "it goes on to the preflight (nothing runs there)"


def test_the_dry_run_of_a_production_target_shows_the_blast_radius_and_says_what_it_refuses(production, tmp_path):
    result = drillkit("run", "experiments/app-latency.yaml", "--target", str(production), "--dry-run",
                      "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "touches: app-a in region-a: +400 ms and 0% errors on /api/" in result.stdout
    assert "refused:" in result.stderr and "--confirm-target prod-eu" in " ".join(result.stderr.split())
    assert nothing_was_touched(tmp_path)


def test_a_staging_run_without_a_terminal_and_without_yes_is_refused_with_exit_2(tmp_path):
    staging = a_target(tmp_path, "staging", "staging-eu")
    result = drillkit("run", str(PLAIN), "--target", str(staging), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "there is no terminal to confirm on: pass --yes" in " ".join(result.stderr.split())
    assert nothing_was_touched(tmp_path)


def test_a_staging_run_with_yes_asks_nothing_and_runs(tmp_path):
    staging = a_target(tmp_path, "staging", "staging-eu")
    result = drillkit("run", str(PLAIN), "--target", str(staging), "--out", str(tmp_path / "out"), "--yes")
    assert result.returncode != 2, result.stderr
    assert (tmp_path / "out" / "journal.json").exists()


def test_on_a_terminal_a_staging_run_goes_on_only_once_the_target_name_is_typed(tmp_path, monkeypatch):
    staging = a_target(tmp_path, "staging", "staging-eu")
    monkeypatch.setattr(cli, "_is_terminal", lambda: True)
    args = ["run", str(PLAIN), "--target", str(staging), "--out", str(tmp_path / "out")]
    refused = CliRunner().invoke(cli.app, args, input="yes\n")
    assert isinstance(refused.exception, cli.Aborted) and "not confirmed" in str(refused.exception)
    assert "type the target's name (staging-eu) to go on" in refused.output
    assert "touches: not known to drillkit: whatever the command true touches" in refused.output, \
        "the plan is shown before the question"
    assert nothing_was_touched(tmp_path)
    confirmed = CliRunner().invoke(cli.app, args, input="staging-eu\n")
    assert (tmp_path / "out" / "journal.json").exists(), confirmed.output


def test_a_sandbox_run_asks_nothing(tmp_path):
    sandbox = a_target(tmp_path, "sandbox", "sandbox")
    result = drillkit("run", str(PLAIN), "--target", str(sandbox), "--out", str(tmp_path / "out"))
    assert result.returncode != 2, result.stderr
    assert (tmp_path / "out" / "journal.json").exists()


# The blast radius of every experiment against the sandbox target: what, how long, guarded by what.
BLAST = {
    "app-latency": ["fault slow-down-region-a (inject_http_faults)",
                    "touches: app-a in region-a: +400 ms and 0% errors on /api/",
                    "for at most: 70 s (pauses 30 s, time limits 40 s), then the rollbacks heal it"],
    "db-primary-outage": ["fault kill-the-primary-host (kill_primary)",
                          "touches: the database leader at run time (pg-a or pg-b)",
                          "for at most: 120 s (pauses 0 s, time limits 120 s), then the rollbacks heal it"],
    "load-spike": ["fault start-the-spike (start_load_spike)",
                   "touches: the global endpoint http://127.0.0.1:8080 (40 users at the peak)",
                   "for at most: 80 s (the fault's own duration), then it ends by itself"],
    "region-a-outage": ["fault fail-region-a (fail_region)", "touches: app-a, pg-a in region-a",
                        "for at most: 120 s (pauses 0 s, time limits 120 s), then the rollbacks heal it"],
    "region-partition": ["fault partition-region-a (partition_region)",
                         "touches: region-a's address 127.0.10.1 (app-a, pg-a), cut off from region-b and the witness",
                         "for at most: 150 s (pauses 30 s, time limits 120 s), then the rollbacks heal it"],
    "replica-lag-failover": ["fault isolate-the-replica (isolate_replica)",
                             "touches: a replica at run time (pg-a or pg-b): its replication from the leader",
                             "for at most: 150 s (pauses 30 s, time limits 120 s), then the rollbacks heal it",
                             "fault kill-the-primary-host (kill_primary)"],
    "bad-migration-restore": ["fault a-migration-deletes-most-of-the-ledger (bad_migration)",
                              "touches: the ledger table on the database leader at run time (pg-a or pg-b) and "
                              "every replica: 90% of its rows deleted (kept in a side table until the rollback "
                              "puts them back)",
                              "fault restore-to-just-before-the-migration-and-repair (restore_point_in_time)",
                              "for at most: 600 s (pauses 0 s, time limits 600 s), then the rollbacks heal it"],
    "restore-from-incremental": ["fault lose-the-primary-and-restore-from-the-backups-alone (restore_from_backups)",
                                 "for at most: 600 s (pauses 0 s, time limits 600 s), then the rollbacks heal it"],
}


@pytest.mark.parametrize("name", sorted(BLAST))
def test_the_plan_of_every_experiment_shows_its_blast_radius_against_the_sandbox(name):
    assert sorted(p.stem for p in EXPERIMENTS.glob("*.yaml")) == sorted(BLAST), "every experiment has its lines"
    plan = plan_run(EXPERIMENTS / f"{name}.yaml", SANDBOX)
    lines = [line.strip() for line in outline(plan.experiments[0], plan.target)]
    blast = lines[lines.index("blast radius:"):]
    for expected in BLAST[name]:
        assert expected in blast
    assert "guarded by: no stop condition" in blast


def test_the_duration_follows_the_variables_the_run_gives(tmp_path):
    plan = plan_run(EXPERIMENTS / "app-latency.yaml", SANDBOX, {"fault_duration": 5})
    assert any("for at most: 45 s (pauses 5 s" in line for line in outline(plan.experiments[0], plan.target))


def test_a_fault_is_guarded_by_the_drill_stop_conditions_and_its_experiment_own(tmp_path):
    experiment = yaml.safe_load((EXPERIMENTS / "app-latency.yaml").read_text())
    experiment["extensions"] = [{"name": "drillkit", "stop_conditions": [
        {"name": "pager-quiet", "kind": "command", "command": ["true"]}]}]
    (tmp_path / "app-latency.yaml").write_text(yaml.safe_dump(experiment))
    manifest = tmp_path / "drill.yaml"
    manifest.write_text(yaml.safe_dump({
        "name": "guarded", "target": str(SANDBOX), "objectives": str(ROOT / "probes" / "objectives.yaml"),
        "experiments": [{"path": str(tmp_path / "app-latency.yaml")}],
        "stop_conditions": [{"name": "users-served", "kind": "sli", "sli": "availability", "below": 0.9}]}))
    lines = [line.strip() for line in drill_outline(plan_drill(manifest))]
    assert "guarded by: drill: users-served (sli); experiment: pager-quiet (command)" in lines
    assert lines[0].endswith("; stop conditions users-served (sli)")


def test_a_target_with_a_secret_written_inline_is_refused_naming_the_field(tmp_path):
    target = a_target(tmp_path, "staging", "staging-eu", secrets={"app_admin_token": "hunter2"})
    result = drillkit("validate", str(target))
    assert result.returncode == 2
    assert f"{target}: secrets.app_admin_token:" in result.stderr and "never the value itself" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_a_fault_followed_by_an_activity_without_a_time_limit_stays_until_healed():
    fault = {"type": "action", "name": "slow", "pauses": {"after": 5},
             "provider": {"type": "python", "module": "drillkit.faults.app.actions", "func": "inject_http_faults"}}
    endless = {"type": "probe", "name": "watch-forever", "provider": {"type": "process", "path": "tail"}}
    assert blast_radius.how_long(fault, [endless]) == "until healed (watch-forever has no time limit)"
    assert blast_radius.how_long(fault, []).startswith("5 s (pauses 5 s, time limits 0 s)")


def test_on_production_an_action_of_another_module_is_not_allowed_by_the_name_of_a_drillkit_fault(
        production, tmp_path, monkeypatch):
    (tmp_path / "lookalike_faults.py").write_text(
        "def inject_http_faults(region='', latency_ms=0, error_rate=0.0, configuration=None, secrets=None):\n"
        "    return {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = yaml.safe_load((EXPERIMENTS / "app-latency.yaml").read_text())
    spec["method"][0]["provider"]["module"] = "lookalike_faults"  # same func name, any other code
    lookalike = tmp_path / "lookalike.yaml"
    lookalike.write_text(yaml.safe_dump(spec))
    problems = guard_problems(plan_run(lookalike, production), "prod-eu")
    assert any("'lookalike_faults.inject_http_faults'" in problem for problem in problems), problems
