"""A run aborted by a stop condition: the method is interrupted, the rollbacks are played, the run ends
"aborted" naming the condition (exit 3); a condition that fires or cannot be evaluated before the first
fault refuses the run, and nothing is injected. Through chaoslib's real runner, on no sandbox."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from drillkit.drill.drill import causes
from drillkit.drill.runner import run_experiment
from drillkit.model.result import RunStatus
from drillkit.validation import plan_run

from .test_cli_exit_codes import _target


def process(name: str, path: str, arguments: str, kind: str = "action") -> dict:
    return {"type": kind, "name": name, "provider": {"type": "process", "path": path, "arguments": arguments}}


def guarded_experiment(tmp_path: Path, *stop_conditions: dict) -> Path:
    """The method marks a fault in place, then waits 30 s; the rollback removes the mark."""
    fault = tmp_path / "fault-in-place"
    path = tmp_path / "guarded.yaml"
    path.write_text(yaml.safe_dump({
        "title": "a guarded fault", "description": "waits with a fault in place", "tags": ["test"],
        "method": [process("inject", "touch", str(fault)), process("wait", "sleep", "30")],
        "rollbacks": [process("heal", "rm", f"-f {fault}"), process("healed", "touch", str(tmp_path / "rolled-back"))],
        "extensions": [{"name": "drillkit", "stop_conditions": list(stop_conditions)}],
    }, sort_keys=False))
    return path


def fault_absent(tmp_path: Path, **fields) -> dict:
    """Fires once the fault is in place: `test ! -e FILE` exits 1."""
    return {"name": "fault-absent", "kind": "command", "command": ["test", "!", "-e", str(tmp_path / "fault-in-place")],
            "every_s": 0.1, **fields}


def test_a_firing_stop_condition_interrupts_the_method_plays_the_rollbacks_and_aborts_the_run(tmp_path):
    plan = plan_run(guarded_experiment(tmp_path, fault_absent(tmp_path)), _target(tmp_path))
    started = time.monotonic()

    result = run_experiment(plan, tmp_path / "out", settings={}, run_id="guarded")

    assert time.monotonic() - started < 10, "the 30 s wait must have been interrupted"
    assert result.status is RunStatus.ABORTED and result.exit_code == 3 and result.rollbacks_ok
    assert result.stopped_by.name == "fault-absent" and result.stopped_by.value == "exit 1"
    assert not result.stopped_by.before_faults
    assert (tmp_path / "rolled-back").exists() and not (tmp_path / "fault-in-place").exists()
    assert result.journal["drillkit"]["stopped_by"]["name"] == "fault-absent"
    assert causes(result.journal)[0].startswith("ABORTED by stop condition fault-absent: fired at ")


def test_a_condition_that_cannot_be_evaluated_before_the_first_fault_refuses_the_run(tmp_path):
    unreachable = {"name": "status-page", "kind": "http", "url": "http://127.0.0.1:9/status", "timeout_s": 1}
    plan = plan_run(guarded_experiment(tmp_path, unreachable), _target(tmp_path))

    result = run_experiment(plan, tmp_path / "out", settings={}, run_id="refused")

    assert result.status is RunStatus.ABORTED and result.exit_code == 3
    assert result.stopped_by.before_faults and result.stopped_by.reason == "unevaluable"
    assert not (tmp_path / "fault-in-place").exists(), "nothing may be injected"
    assert result.journal["run"] == [] and (tmp_path / "out" / "journal.json").exists()


def test_a_condition_that_ignores_errors_lets_the_run_go_on(tmp_path):
    ignored = fault_absent(tmp_path, command=["/nonexistent/check"], on_error="ignore")
    experiment = guarded_experiment(tmp_path, ignored)
    data = yaml.safe_load(experiment.read_text())
    data["method"][1] = process("wait", "sleep", "0.5")
    experiment.write_text(yaml.safe_dump(data))

    result = run_experiment(plan_run(experiment, _target(tmp_path)), tmp_path / "out", settings={}, run_id="ignoring")

    assert result.status is RunStatus.COMPLETED and result.stopped_by is None
    assert (tmp_path / "rolled-back").exists()


@pytest.mark.parametrize("condition, field", [
    ({"name": "x", "kind": "sli", "sli": "availability", "below": 2}, "extensions.0.stop_conditions.0.sli.below"),
    ({"name": "x", "kind": "vibes"}, "extensions.0.stop_conditions.0"),
    ({"name": "Bad Name", "kind": "command", "command": ["true"]}, "extensions.0.stop_conditions.0.command.name"),
])
def test_an_invalid_stop_condition_names_the_file_and_the_field_and_nothing_runs(tmp_path, condition, field):
    from drillkit.errors import InvalidInput

    experiment = guarded_experiment(tmp_path, condition)
    with pytest.raises(InvalidInput) as raised:
        plan_run(experiment, _target(tmp_path))
    assert f"{experiment}: {field}" in str(raised.value)


def test_a_second_drillkit_extension_is_refused_since_only_the_first_is_read(tmp_path):
    from drillkit.errors import InvalidInput

    experiment = guarded_experiment(tmp_path, {"name": "x", "kind": "command", "command": ["true"]})
    data = yaml.safe_load(experiment.read_text())
    data["extensions"].append({"name": "drillkit", "stop_conditions": []})
    experiment.write_text(yaml.safe_dump(data))
    with pytest.raises(InvalidInput, match=r"extensions\.1\.name: a second 'drillkit' extension"):
        plan_run(experiment, _target(tmp_path))


def test_conditions_that_could_never_be_evaluated_are_refused_before_the_run(tmp_path):
    from drillkit.errors import InvalidInput

    experiment = guarded_experiment(tmp_path, {"name": "prom", "kind": "prometheus", "query": "up == 0"},
                                    {"name": "users", "kind": "sli", "sli": "availability", "below": 0.5},
                                    {"name": "prom", "kind": "command", "command": ["true"]})
    with pytest.raises(InvalidInput) as raised:
        plan_run(experiment, _target(tmp_path))
    lines = str(raised.value).splitlines()
    assert f"{experiment}: extensions.0.stop_conditions.0.kind: a prometheus stop condition needs the target's " \
           "`prometheus` settings (url, token or username/password); target 't' has none" in lines
    assert any(line.startswith(f"{experiment}: extensions.0.stop_conditions.1.kind: a sli stop condition reads "
                               "drillkit's live samples") for line in lines)
    assert f"{experiment}: extensions.0.stop_conditions.2.name: 'prom' names two stop conditions of {experiment}" \
        in lines
    # with the measure control (drillkit run --measure) the live kind is fine
    with pytest.raises(InvalidInput) as measured:
        plan_run(experiment, _target(tmp_path), measure=True)
    assert "a sli stop condition" not in str(measured.value)


def test_a_drill_aborted_by_a_stop_condition_reads_aborted_never_passes_and_keeps_its_measurements():
    from drillkit.model.objectives import Objectives
    from drillkit.model.stop import StopFiring
    from drillkit.report.render import to_html, to_markdown
    from drillkit.score.score import score

    from .drill_runs import drill_run, record

    firing = StopFiring(name="users-served", kind="sli", reason="fired", at_utc="2026-11-20T10:00:41+00:00",
                        at_monotonic=1041.0, at_s=41.0, value="availability 0.4100 over the last 10 s (400 requests)")
    aborted = record(status="aborted", stopped_by=firing, causes=[firing.describe()])
    report = score(drill_run(aborted, aborted=firing.describe(), stopped_by=firing), Objectives())

    assert report.status == "aborted" and report.exit_code() == 3 and report.grade in ("C", "D", "F")
    assert report.status_reason.startswith("ABORTED by stop condition users-served: fired at 2026-11-20T10:00:41")
    assert report.stopped_by == firing and report.experiments[0].runs[0].stopped_by == firing
    assert report.experiments[0].runs[0].measured and report.experiments[0].runs[0].user_path is not None
    markdown = to_markdown(report)
    assert "**ABORTED by stop condition users-served** (sli, fired) at 2026-11-20T10:00:41+00:00, T+41.0 s" in markdown
    assert "availability 0.4100 over the last 10 s" in markdown
    assert 'id="stopped-by"><strong>ABORTED by stop condition users-served</strong>' in to_html(report)


def test_a_drills_conditions_reach_each_experiment_and_are_named_by_the_manifest_when_wrong(tmp_path):
    from drillkit.errors import InvalidInput
    from drillkit.validation import plan_drill

    experiment = guarded_experiment(tmp_path, fault_absent(tmp_path))
    manifest = tmp_path / "drill.yaml"
    drill = {"name": "guarded", "target": str(_target(tmp_path)), "experiments": [{"path": str(experiment)}],
             "stop_conditions": [{"name": "status-page", "kind": "http", "url": "http://127.0.0.1:9/"}]}
    objectives = tmp_path / "objectives.yaml"
    objectives.write_text("{}\n")
    manifest.write_text(yaml.safe_dump({**drill, "objectives": str(objectives)}))
    planned = plan_drill(manifest).experiments[0]
    assert [c.name for c in planned.stop_conditions] == ["status-page", "fault-absent"]

    prometheus = {"name": "five-hundreds", "kind": "prometheus", "query": "up == 0"}
    manifest.write_text(yaml.safe_dump({**drill, "objectives": str(objectives), "stop_conditions": [prometheus]}))
    with pytest.raises(InvalidInput, match=rf"^{manifest}: stop_conditions.0.kind: a prometheus stop condition"):
        plan_drill(manifest)
