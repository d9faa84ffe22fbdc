"""A scored drill in the OpenMetrics text format, the textfile node_exporter reads, and the Pushgateway."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_format_families
from pydantic import ValidationError

from drillkit.model.measurements import Bounds, Budget
from drillkit.model.objectives import Objectives
from drillkit.model.report import Report
from drillkit.model.target import MetricsOut
from drillkit.report import export, openmetrics
from drillkit.report.render import write_all
from drillkit.score import score
from tests.unit.drill_runs import drill_run, failed_item, measurements, policy_check, record, restore, rpo, timeline

RUN_ID = "20261120T095800Z-ab12"
DRILL = {"drill": "quarterly", "target": "sandbox", "run_id": RUN_ID}
RUN = {**DRILL, "experiment": "db-primary-outage", "repetition": "1"}


def scored(*records) -> Report:
    return score(drill_run(*records, run_id=RUN_ID), Objectives())


@pytest.fixture
def report() -> Report:
    lossy = measurements(rpo=rpo(seconds=1.5, lost=12, acknowledged=590))
    return scored(record(measurements=lossy))


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of TEXT (OpenMetrics, parsed by prometheus_client) by name and labels."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def test_the_openmetrics_of_a_scored_drill_parse_and_carry_its_figures_labelled_by_drill_target_and_run(report):
    found = samples(openmetrics.render(report))
    assert value(found, "drillkit_drill_score", **DRILL) == report.score
    assert value(found, "drillkit_drill_info", **DRILL, grade=report.grade, status=report.status,
                 target_kind="sandbox") == 1
    assert value(found, "drillkit_rto_lower_seconds", **RUN, fault="kill-primary") == 25.0
    assert value(found, "drillkit_rto_upper_seconds", **RUN, fault="kill-primary") == 28.0
    assert value(found, "drillkit_rpo_seconds", **RUN) == 1.5
    assert value(found, "drillkit_lost_writes", **RUN) == 12
    assert value(found, "drillkit_split_brain_lost_writes", **RUN) == 0
    assert value(found, "drillkit_budget_consumed_ratio", **RUN, slo="availability") == 0.0096
    assert value(found, "drillkit_drill_budget_consumed_ratio", **DRILL, objective="availability") == \
        next(o.budget_consumed for o in report.objectives if o.name == "availability")


def test_each_experiment_has_its_own_score_and_verdict(report):
    found = samples(openmetrics.render(report))
    experiment = report.experiments[0]
    assert value(found, "drillkit_experiment_score", **DRILL, experiment=experiment.name) == experiment.score
    assert value(found, "drillkit_experiment_passed", **DRILL, experiment=experiment.name) == int(experiment.passed)


def test_seconds_and_ratios_declare_their_unit(report):
    units = {f.name: f.unit for f in text_string_to_metric_families(openmetrics.render(report))}
    assert units["drillkit_rto_upper_seconds"] == "seconds"
    assert units["drillkit_rpo_seconds"] == "seconds"
    assert units["drillkit_budget_consumed_ratio"] == "ratio"


def test_a_figure_not_measured_has_no_sample_and_its_measured_gauge_reads_zero():
    blind = measurements(rpo=rpo(status="not measured", seconds=None, reason="the ledger was unreadable"),
                         timelines=[timeline(status="not measured", rto=None, incident=None)],
                         budget=Budget(availability=None, errors=0.004, latency=0.002))
    found = samples(openmetrics.render(scored(record(measurements=blind))))
    names = {name for name, _ in found}
    assert {"drillkit_rpo_seconds", "drillkit_lost_writes", "drillkit_rto_lower_seconds",
            "drillkit_rto_upper_seconds"}.isdisjoint(names)
    assert value(found, "drillkit_budget_consumed_ratio", **RUN, slo="availability") is None
    unset = {"experiment": "", "repetition": "", "fault": "", "restore": ""}
    measured = {**unset, **RUN}
    assert value(found, "drillkit_figure_measured", **measured, figure="rpo") == 0
    assert value(found, "drillkit_figure_measured", **measured, figure="lost_writes") == 0
    assert value(found, "drillkit_figure_measured", **measured, figure="budget_availability") == 0
    assert value(found, "drillkit_figure_measured", **measured, figure="budget_errors") == 1
    assert value(found, "drillkit_figure_measured", **{**measured, "fault": "kill-primary"}, figure="rto") == 0
    assert value(found, "drillkit_figure_measured", **{**unset, **DRILL}, figure="objective_RPO") == 0
    assert value(found, "drillkit_objective_met", **DRILL, objective="RPO") is None


def test_an_rto_that_never_recovered_reads_its_lower_bound_and_an_infinite_upper_bound():
    never = measurements(timelines=[timeline(status="not recovered", rto=Bounds(lower=80.0, upper=None))])
    found = samples(openmetrics.render(scored(record(measurements=never))))
    assert value(found, "drillkit_rto_lower_seconds", **RUN, fault="kill-primary") == 80.0
    assert math.isinf(value(found, "drillkit_rto_upper_seconds", **RUN, fault="kill-primary"))


def test_a_fault_without_impact_has_an_rto_of_zero_as_the_objective_counts_it():
    quiet = measurements(timelines=[timeline(status="no impact", rto=None, incident=None)], incidents=[])
    found = samples(openmetrics.render(scored(record(measurements=quiet))))
    assert value(found, "drillkit_rto_upper_seconds", **RUN, fault="kill-primary") == 0.0


def test_a_fault_named_twice_in_one_run_keeps_two_series():
    twice = measurements(timelines=[timeline(), timeline(rto=Bounds(lower=3.0, upper=4.0))])
    found = samples(openmetrics.render(scored(record(measurements=twice))))
    assert value(found, "drillkit_rto_upper_seconds", **RUN, fault="kill-primary") == 28.0
    assert value(found, "drillkit_rto_upper_seconds", **RUN, fault="kill-primary#2") == 4.0


def test_the_text_format_for_a_pushgateway_holds_the_same_series(report):
    found = {(s.name, frozenset(s.labels.items())): s.value
             for family in text_format_families(openmetrics.render_text_format(report)) for s in family.samples}
    assert found == samples(openmetrics.render(report))


def test_the_run_folder_gets_metrics_prom_beside_the_report(report, tmp_path):
    write_all(report, tmp_path)
    assert samples((tmp_path / "metrics.prom").read_text())


# The textfile


def test_the_textfile_is_replaced_in_one_rename_from_a_file_the_collector_does_not_read(report, tmp_path,
                                                                                         monkeypatch):
    textfile = tmp_path / "drillkit.prom"
    textfile.write_text("old complete file\n")
    renames = []
    real_replace = Path.replace

    def watched(self: Path, target: Path) -> Path:
        renames.append((self.name, self.read_text(), Path(target).read_text()))
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", watched)
    assert export.export(report, MetricsOut(textfile=textfile)) == []
    [(tmp_name, new_text, old_text)] = renames
    assert not tmp_name.endswith(".prom")
    assert old_text == "old complete file\n"  # until the rename, readers see the old file whole
    assert new_text == textfile.read_text() == openmetrics.render(report)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drillkit.prom"]


def test_a_textfile_that_cannot_be_written_is_a_warning_and_leaves_the_old_file(report, tmp_path, monkeypatch):
    textfile = tmp_path / "drillkit.prom"
    textfile.write_text("old\n")

    def full_disk(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", full_disk)
    [warning] = export.export(report, MetricsOut(textfile=textfile))
    assert "metrics.textfile" in warning and "No space left" in warning
    assert textfile.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drillkit.prom"]


def test_a_textfile_not_named_prom_is_refused():
    with pytest.raises(ValidationError, match="textfile.*\\*.prom"):
        MetricsOut(textfile=Path("/var/lib/node_exporter/drillkit.txt"))


# The Pushgateway


def gateway(answer: int = 200) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(answer, text="" if answer < 400 else "pushed metrics are invalid")

    return httpx.Client(transport=httpx.MockTransport(handle)), seen


def test_the_pushgateway_gets_a_put_of_the_series_under_the_drills_group(report):
    client, seen = gateway()
    settings = MetricsOut(pushgateway="http://pushgateway.example:9091/")
    assert export.export(report, settings, client=client) == []
    [request] = seen
    assert request.method == "PUT"
    assert request.url.path == "/metrics/job/drillkit/drill/quarterly/target/sandbox"
    assert request.headers["content-type"].startswith("text/plain; version=0.0.4")
    pushed = {(s.name, frozenset(s.labels.items())): s.value
              for family in text_format_families(request.content.decode()) for s in family.samples}
    assert pushed[("drillkit_drill_score", frozenset(DRILL.items()))] == report.score


def test_a_grouping_value_with_a_slash_goes_base64_as_the_pushgateway_reads_it(report):
    odd = report.model_copy(update={"drill": "dr/quarterly"})
    assert export.grouping_path(odd) == "/metrics/job/drillkit/drill@base64/ZHIvcXVhcnRlcmx5/target/sandbox"


@pytest.mark.parametrize("dots", [".", ".."])
def test_a_grouping_value_of_dots_goes_base64_so_the_url_is_not_folded_into_another_group(report, dots):
    odd = report.model_copy(update={"drill": dots})
    path = export.grouping_path(odd)
    assert httpx.URL("http://gateway.test" + path).path == path  # a client would fold `/drill/..` away
    assert path.startswith("/metrics/job/drillkit/drill@base64/")


def test_a_pushgateway_that_refuses_is_a_warning_not_an_error(report):
    client, _ = gateway(answer=400)
    [warning] = export.export(report, MetricsOut(pushgateway="http://127.0.0.1:9091"), client=client)
    assert "not pushed" in warning and "400" in warning


def test_an_unreachable_pushgateway_is_a_warning_not_an_error(report):
    [warning] = export.export(report, MetricsOut(pushgateway="http://127.0.0.1:9"))
    assert "metrics.pushgateway" in warning and "not pushed" in warning


def test_no_metrics_settings_export_nothing(report):
    assert export.export(report, None) == []


def test_the_cli_publishes_the_metrics_after_the_report_and_a_failed_push_keeps_the_verdict(tmp_path, capsys):
    from drillkit import cli

    run = drill_run(run_id=RUN_ID, run_dir=str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    settings = MetricsOut(textfile=tmp_path / "drillkit.prom", pushgateway="http://127.0.0.1:9")
    code = cli._publish(run, tmp_path / "history.jsonl", append=False, metrics=settings)
    assert code == score(run, Objectives()).exit_code()
    assert samples((tmp_path / "drillkit.prom").read_text()) == samples((tmp_path / "run" / "metrics.prom").read_text())
    assert "metrics.pushgateway http://127.0.0.1:9/: not pushed" in " ".join(capsys.readouterr().err.split())


# Backups and restores

def restore_report(*restores, **update) -> Report:
    run = record("bad-migration-restore", measurements=measurements(restores=list(restores)))
    return score(drill_run(run, run_id=RUN_ID, **{"backup_check": policy_check(), "backup_time_scale": 60.0,
                                                   **update}), Objectives())


RESTORE_RUN = {**DRILL, "experiment": "bad-migration-restore", "repetition": "1"}
UNSET = {"experiment": "", "repetition": "", "fault": "", "restore": ""}


def test_a_restore_has_its_rto_bounds_rpo_and_checks_labelled_by_its_activity():
    found = samples(openmetrics.render(restore_report(restore())))
    labels = {**RESTORE_RUN, "restore": "bad-migration-restore"}
    assert value(found, "drillkit_restore_rto_lower_seconds", **labels) == 95.0
    assert value(found, "drillkit_restore_rto_upper_seconds", **labels) == 97.5
    assert value(found, "drillkit_restore_rpo_seconds", **labels) == 0.4
    assert value(found, "drillkit_restore_checks_passed", **labels) == 1
    assert value(found, "drillkit_figure_measured", **{**UNSET, **labels}, figure="restore_rpo") == 1


def test_a_restore_not_measured_has_no_samples_and_its_measured_gauges_read_zero():
    blind = restore(status="not measured", reason="no backup", rto=None, rpo=None, checks=[])
    found = samples(openmetrics.render(restore_report(blind)))
    labels = {**UNSET, **RESTORE_RUN, "restore": "bad-migration-restore"}
    assert {"drillkit_restore_rto_upper_seconds", "drillkit_restore_rpo_seconds",
            "drillkit_restore_checks_passed"}.isdisjoint(name for name, _ in found)
    for figure in ("restore_rto", "restore_rpo", "restore_checks"):
        assert value(found, "drillkit_figure_measured", **labels, figure=figure) == 0, figure


def test_a_restored_copy_that_never_served_reads_an_infinite_rto():
    found = samples(openmetrics.render(restore_report(restore(rto=None))))
    labels = {**RESTORE_RUN, "restore": "bad-migration-restore"}
    assert math.isinf(value(found, "drillkit_restore_rto_upper_seconds", **labels))


def test_the_backup_policy_verdict_and_each_rule_are_gauges():
    check = failed_item("encryption at rest", "marker found in plaintext")
    found = samples(openmetrics.render(restore_report(restore(), backup_check=check)))
    assert value(found, "drillkit_backup_policy_held", **DRILL) == 0
    assert value(found, "drillkit_backup_policy_rule_ok", **DRILL, rule="encryption at rest") == 0
    assert value(found, "drillkit_backup_policy_rule_ok", **DRILL, rule="newest full") == 1
    assert value(found, "drillkit_backup_time_scale", **DRILL) == 60
    held = samples(openmetrics.render(restore_report(restore())))
    assert value(held, "drillkit_backup_policy_held", **DRILL) == 1


def test_a_backup_policy_not_checked_has_no_verdict_sample():
    found = samples(openmetrics.render(restore_report(restore(), backup_check=None, backup_check_error="refused")))
    assert value(found, "drillkit_backup_policy_held", **DRILL) is None
    assert value(found, "drillkit_figure_measured", **UNSET, **DRILL, figure="backup_policy") == 0
