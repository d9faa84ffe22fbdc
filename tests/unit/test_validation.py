"""`drillkit validate` and `chaos validate` on the shipped files, and a corpus of broken ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drillkit.errors import InvalidInput
from drillkit.model.target import load_target
from drillkit.validation import load_experiment, validate_files

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
INVALID = ROOT / "tests" / "fixtures" / "invalid"
SANDBOX_TARGET = ROOT / "drills" / "targets" / "sandbox.yaml"
PLAIN = ROOT / "tests" / "fixtures" / "chaos" / "plain.yaml"


def test_the_eight_experiments_ship():
    assert {p.stem for p in EXPERIMENTS} == {
        "db-primary-outage", "region-a-outage", "region-partition",
        "replica-lag-failover", "load-spike", "app-latency", "bad-migration-restore", "restore-from-incremental",
    }


def test_every_shipped_experiment_and_target_is_valid():
    assert validate_files([*EXPERIMENTS, SANDBOX_TARGET], load_target(SANDBOX_TARGET)) == []


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda p: p.stem)
def test_chaos_validate_accepts_the_experiment(experiment, tmp_path):
    chaos = Path(sys.executable).parent / "chaos"
    result = subprocess.run([str(chaos), "--no-log-file", "validate", str(experiment)], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("no-method.yaml", "no-method.yaml: method: Field required"),
        ("unknown-activity.yaml",
         "unknown-activity.yaml: method.0.provider.func: drillkit.faults.database.actions has no activity "
         "'kill_primry'"),
        ("wrong-argument.yaml",
         "wrong-argument.yaml: method.0.provider.arguments.regoin: "
         "fail_region() takes no argument 'regoin'"),
        ("unknown-region.yaml",
         "unknown-region.yaml: method.0.provider.arguments.region: "
         "target 'sandbox' has no region 'region-c'"),
        ("bad-pause.yaml", "bad-pause.yaml: method.0.pauses.after"),
        ("not-yaml.yaml", "not-yaml.yaml: (file): cannot be read: while parsing a flow sequence"),
        ("target-bad-driver.yaml", "target-bad-driver.yaml: driver: Input tag 'ssh' found using 'type'"),
        ("target-one-region.yaml", "target-one-region.yaml: endpoint: Input should be a valid URL"),
        ("binary.yaml", "binary.yaml: (file): not a text file"),
        ("negative-pause-process.yaml", "negative-pause-process.yaml: method.0.pauses.after: Value error, must "
         "not be negative"),
        ("negative-pause-variable.yaml", "negative-pause-variable.yaml: method.0.pauses.before: Value error, "
         "must not be negative (got -3 seconds) (after substituting the configuration)"),
        ("region-variable.yaml", "region-variable.yaml: method.0.provider.arguments.region: target 'sandbox' "
         "has no region 'region-c'"),
        ("target-missing-component.yaml", "target-missing-component.yaml: regions.region-a.app.component: the "
         "sandbox has no part named 'app-x'"),
        ("target-kubernetes.yaml", "target-kubernetes.yaml: driver.components: regions.region-b.database.component "
         "'pg-b' is bound to no pods"),
    ],
)
def test_a_broken_file_is_rejected_with_its_file_and_field(name, expected):
    problems = validate_files([INVALID / name], load_target(SANDBOX_TARGET))
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith(str(INVALID / name)) for problem in problems)


def test_a_binary_file_exits_2_with_one_line_and_no_traceback():
    result = _drillkit("validate", str(INVALID / "binary.yaml"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{INVALID / 'binary.yaml'}: (file): ")
    assert "Traceback" not in result.stderr


def test_a_plain_chaos_toolkit_experiment_is_valid_without_tags_hypothesis_or_drillkit_modules():
    assert validate_files([PLAIN], load_target(SANDBOX_TARGET)) == []


def test_an_empty_method_is_valid_as_in_chaos_validate(tmp_path):
    experiment = tmp_path / "only-a-hypothesis.yaml"
    experiment.write_text("title: t\ndescription: d\nmethod: []\n")
    assert validate_files([experiment]) == []


def test_a_variable_override_is_checked_like_a_literal():
    with pytest.raises(InvalidInput, match="has no region 'region-z'"):
        load_experiment(INVALID / "region-variable.yaml", load_target(SANDBOX_TARGET), {"region": "region-z"})


def test_a_valid_variable_override_passes():
    load_experiment(INVALID / "region-variable.yaml", load_target(SANDBOX_TARGET), {"region": "region-b"})


def test_a_member_argument_must_name_a_member_of_the_target(tmp_path):
    experiment = tmp_path / "isolate.yaml"
    experiment.write_text(
        "title: t\ndescription: d\nmethod:\n  - type: action\n    name: isolate\n    provider:\n"
        "      type: python\n      module: drillkit.faults.database.actions\n      func: isolate_replica\n"
        "      arguments: {replica: pg-c}\n")
    problems = validate_files([experiment], load_target(SANDBOX_TARGET))
    assert problems == [f"{experiment}: method.0.provider.arguments.replica: target 'sandbox' has no database "
                        "member 'pg-c' (it has: pg-a, pg-b)"]


def test_a_target_with_one_region_names_the_regions_field():
    problems = validate_files([INVALID / "target-one-region.yaml"])
    assert any(": regions: " in problem for problem in problems), problems


def test_the_cli_exits_2_and_prints_every_problem():
    result = _drillkit("validate", *map(str, sorted(INVALID.glob("*.yaml"))), "--target", str(SANDBOX_TARGET))
    assert result.returncode == 2
    reported = {line.split(":")[0] for line in result.stderr.splitlines() if line.startswith(str(INVALID))}
    assert reported == {str(p) for p in INVALID.glob("*.yaml")}


def test_run_refuses_an_invalid_experiment_before_touching_anything(tmp_path):
    target = tmp_path / "target.yaml"
    state_dir = tmp_path / "state"
    target.write_text(SANDBOX_TARGET.read_text().replace(".drillkit/sandbox", str(state_dir)))
    result = _drillkit("run", str(INVALID / "unknown-region.yaml"), "--target", str(target),
                       "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "region-c" in result.stderr
    assert not state_dir.exists(), "no fault may be logged or injected for an invalid experiment"
    assert not (tmp_path / "out").exists()


def _drillkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)


def test_validate_accepts_the_kubernetes_example_target_and_the_quarterly_drill_against_it():
    example = ROOT / "drills" / "targets" / "kubernetes.example.yaml"
    assert _drillkit("validate", str(example)).returncode == 0
    result = _drillkit("validate", str(ROOT / "drills" / "quarterly.yaml"), "--target", str(example))
    assert result.returncode == 0, result.stderr


def test_validate_with_a_kubernetes_target_that_binds_no_pods_for_a_member_exits_2():
    result = _drillkit("validate", str(PLAIN), "--target", str(INVALID / "target-kubernetes.yaml"))
    assert result.returncode == 2
    unbound = "driver.components: regions.region-b.database.component 'pg-b' is bound to no pods"
    assert f"{INVALID / 'target-kubernetes.yaml'}: {unbound}" in result.stderr
