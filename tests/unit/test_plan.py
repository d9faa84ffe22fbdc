"""One plan, built once: the target file is read once per run, whatever reads the target afterwards
(the preflight, the runner, every activity, the safety net), and the run folder reaches the measure
control through the configuration, not the process environment."""

from __future__ import annotations

import os
import sys
import types
from collections import Counter
from pathlib import Path

import pytest
import yaml

from drillkit import cli
from drillkit.controls import measure
from drillkit.drill.runner import run_experiment
from drillkit.faults.environment import TARGET_KEY, environment, plan_configuration
from drillkit.model.target import load_target
from drillkit.validation import plan_drill, plan_run

from .test_cli_exit_codes import _target

ROOT = Path(__file__).resolve().parents[2]
PARTITION = ROOT / "experiments" / "region-partition.yaml"


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """How often each file was read as text, by its absolute path."""
    counted: Counter = Counter()
    read_text = Path.read_text

    def counting(self: Path, *args, **kwargs) -> str:
        counted[self.absolute()] += 1
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    return counted


@pytest.fixture
def quiet_logs():
    """The CLI routes drillkit's and chaoslib's logs to its console: put the loggers back afterwards."""
    import logging

    saved = {name: (log.handlers[:], log.propagate, log.level)
             for name, log in ((n, logging.getLogger(n)) for n in ("drillkit", "chaostoolkit"))}
    yield
    for name, (handlers, propagate, level) in saved.items():
        log = logging.getLogger(name)
        log.handlers[:], log.propagate, log.level = handlers, propagate, level


def _experiment_with_drillkit_probes(tmp_path: Path) -> Path:
    """Two drillkit activities that read the target (nothing answers them here: they fail fast)."""
    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump({
        "title": "read the target twice", "description": "no fault", "configuration": {"region": "region-a"},
        "method": [{"type": "probe", "name": "leader", "provider": {
            "type": "python", "module": "drillkit.faults.database.probes", "func": "db_leader"}}],
        "rollbacks": [{"type": "probe", "name": "region", "provider": {
            "type": "python", "module": "drillkit.faults.region.probes", "func": "region_healthy",
            "arguments": {"region": "${region}"}}}],
    }))
    return path


def test_a_dry_run_reads_the_target_file_once(tmp_path, reads, quiet_logs):
    target_file = _target(tmp_path)
    code = _cli("run", str(PARTITION), "--target", str(target_file), "--out", str(tmp_path / "out"), "--dry-run")
    assert code == 3  # nothing answers on this target: the live checks fail
    assert reads[target_file.absolute()] == 1
    assert reads[PARTITION] == 1


def test_a_run_reads_the_target_file_once_though_its_activities_read_the_target(tmp_path, reads):
    target_file = _target(tmp_path)
    result = run_experiment(plan_run(_experiment_with_drillkit_probes(tmp_path), target_file), tmp_path / "out",
                            run_id="r-1")
    assert [run["activity"]["name"] for run in result.journal["run"] + result.journal["rollbacks"]] == [
        "leader", "region"]
    assert reads[target_file.absolute()] == 1


def test_a_drill_plan_reads_the_target_and_each_experiment_once(reads, monkeypatch):
    monkeypatch.chdir(ROOT)  # the drill names its files relative to the project
    plan = plan_drill(Path("drills/quarterly.yaml"))
    assert reads[ROOT / "drills" / "targets" / "sandbox.yaml"] == 1
    for experiment in plan.experiments:
        assert reads[experiment.path.absolute()] == 1, experiment.path


def test_an_activity_given_the_plans_configuration_reads_no_file(tmp_path, reads):
    target_file = _target(tmp_path)
    target = load_target(target_file)
    configuration = plan_configuration(target, target_file, "r-1")
    target_file.unlink()  # nothing may need it any more
    env = environment(configuration)
    assert env.target == target and env.run_id == "r-1"
    assert reads[target_file.absolute()] == 1  # load_target's read above, none since


def test_without_the_plans_target_an_activity_reads_the_named_file_as_under_plain_chaos_run(tmp_path):
    target_file = _target(tmp_path)
    assert environment({TARGET_KEY: str(target_file)}).target == load_target(target_file)


def test_the_measure_control_finds_the_run_folder_in_the_configuration_not_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(measure.OUT_ENV, raising=False)
    seen = _register_spy_control(monkeypatch)
    experiment = tmp_path / "spied.yaml"
    experiment.write_text(yaml.safe_dump({
        "title": "spied", "description": "no fault", "controls": [
            {"name": "spy", "provider": {"type": "python", "module": "drillkit_test_spy_control"}}],
        "method": [{"type": "action", "name": "nothing", "provider": {"type": "process", "path": "true"}}]}))

    run_experiment(plan_run(experiment, _target(tmp_path)), tmp_path / "out", run_id="r-1")

    assert measure.OUT_ENV not in seen["environment"]
    assert measure.out_dir(seen["configuration"], "r-1") == tmp_path / "out"
    assert measure.ensure_run_id(seen["configuration"]) == "r-1"


def test_the_plan_hands_out_copies_and_cannot_be_changed(tmp_path):
    plan = plan_run(_experiment_with_drillkit_probes(tmp_path), _target(tmp_path), {"region": "region-b"})
    (experiment,) = plan.experiments
    experiment.document()["title"] = "changed"
    assert experiment.document()["title"] == "read the target twice"
    assert experiment.resolved()["rollbacks"][0]["provider"]["arguments"] == {"region": "region-b"}
    with pytest.raises(ValueError, match="frozen"):
        plan.target_file = Path("elsewhere.yaml")


def test_measure_adds_the_control_to_the_plan_with_its_settings(tmp_path):
    plan = plan_run(_experiment_with_drillkit_probes(tmp_path), _target(tmp_path), measure=True)
    (experiment,) = plan.experiments
    assert experiment.measured and experiment.measurement() == {}
    assert not plan_run(_experiment_with_drillkit_probes(tmp_path), _target(tmp_path)).experiments[0].measured


def _register_spy_control(monkeypatch) -> dict:
    """A control module that remembers the configuration and the process environment it was given."""
    seen: dict = {}
    module = types.ModuleType("drillkit_test_spy_control")

    def configure_control(configuration=None, secrets=None, **kwargs):
        seen["configuration"] = dict(configuration or {})
        seen["environment"] = dict(os.environ)

    module.__file__ = __file__  # chaoslib names the file in its log lines
    module.configure_control = configure_control
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return seen


def _cli(*args: str) -> int:
    """The command's exit code, as `drillkit` gives it (in this process, so that its reads are counted)."""
    return cli.app(list(args), standalone_mode=False)
