"""The report's Backups section, in HTML and Markdown: the policy rule by rule with its time scale in
words, the encryption rule, each restore's RTO and RPO against the objectives with its phases and
checks, and "not measured" shown as such, never as a zero."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from drillkit.model.objectives import Objectives
from drillkit.model.report import Report
from drillkit.report.charts import restore_chart
from drillkit.report.render import to_html, to_junit, to_markdown
from drillkit.score import score
from tests.unit.drill_runs import drill_run, failed_item, measurements, policy_check, record, restore

UNMEASURED = restore(activity="restore-from-incremental", mode="backups only", status="not measured",
                     reason="barman restore failed: no backup to restore", rto=None, rpo=None, checks=[], phases=[])


@pytest.fixture
def report() -> Report:
    run = record("bad-migration-restore", measurements=measurements(restores=[restore(), UNMEASURED]))
    check = failed_item("encryption at rest", "marker found in plaintext in base/1/data.tar",
                        policy_check(items=[i.model_copy(update={"observed": "marker in 1 of 211 files"})
                                            if i.name == "encryption at rest" else i for i in policy_check().items]))
    return score(drill_run(run, backup_check=check, backup_time_scale=60.0), Objectives())


def backups_html(report: Report) -> str:
    html = to_html(report)
    return html[html.index('<section id="backups">'):html.index('<section id="baseline">')]


def backups_md(report: Report) -> str:
    md = to_markdown(report)
    return md[md.index("## Backups"):]


@pytest.mark.parametrize("render", [backups_html, backups_md])
def test_the_backups_section_lists_every_rule_with_its_mark_observation_and_reason(report, render):
    section = render(report)
    assert "Backup policy did NOT hold" in section
    rows = re.findall(r"(✓|✗)(?:</td><td>| \| )([a-zA-Z ]+?)(?:</td>| \|)", section)
    assert rows == [("✓" if item.ok else "✗", item.name) for item in report.backups.check.items]
    assert all(item.observed in section for item in report.backups.check.items)
    assert "marker found in plaintext in base/1/data.tar" in section
    assert "policy hours run as real minutes in this sandbox" in section


@pytest.mark.parametrize("render", [backups_html, backups_md])
def test_the_encryption_rule_is_said_on_its_own_line(report, render):
    assert re.search(r"Encryption at rest:(</strong>)? ✗ marker in 1 of 211 files", render(report))


@pytest.mark.parametrize("render", [backups_html, backups_md])
def test_each_restore_shows_its_rto_rpo_against_the_objective_phases_and_checks(report, render):
    section = render(report)
    assert "[95.0, 97.5] s" in section                  # the RTO with its bounds
    assert "0.4 s (0 acknowledged writes lost)" in section   # the RPO
    assert "objective 60.0 s at this time scale" in section
    assert "base backup restored" in section and "[30.0, 31.0] s" in section
    assert "pg_verifybackup" in section and "every file matches the backup manifest" in section
    assert "12 writes after the recovery target absent, 0 present" in section
    assert "the newest acknowledged write in the copy is 0.4 s older than T0" in section
    assert "52.0 MB" in section


@pytest.mark.parametrize("render", [backups_html, backups_md])
def test_a_restore_not_measured_reads_not_measured_and_never_zero(report, render):
    section = render(report)
    heading = "<h4>restore-from-incremental" if "<h4>" in section else "### restore-from-incremental"
    first = section.index("restore-from-incremental")  # in HTML, its row of the restores table
    unmeasured = section[first:section.find("</tr>", first)] + section[section.index(heading):]
    assert "not measured" in unmeasured
    assert "barman restore failed: no backup to restore" in section
    assert "data age at T0 not measured" in unmeasured
    assert not re.search(r"(?<![\d.])0(\.0)? s\b", unmeasured) and "0 acknowledged" not in unmeasured


def test_a_policy_that_was_not_checked_says_so_and_why():
    run = record("bad-migration-restore", measurements=measurements(restores=[restore()]))
    report = score(drill_run(run, backup_check_error="connection to 127.0.30.1 refused", backup_time_scale=60.0),
                   Objectives())
    for section in (backups_html(report), backups_md(report)):
        assert "Backup policy was NOT CHECKED: connection to 127.0.30.1 refused" in section
        assert "Encryption at rest:" in section and "not checked" in section


def test_a_report_without_backups_has_no_backups_section():
    report = score(drill_run(record()), Objectives())
    assert 'id="backups"' not in to_html(report)
    assert "## Backups" not in to_markdown(report)


def test_the_restore_chart_draws_each_phase_between_its_bounds():
    svg = restore_chart(restore())
    assert svg.startswith("<svg") and svg.count('class="phase-bounds"') == 5
    assert "serving: between 95.0 and 97.5 s after T0" in svg
    assert "no phase" in restore_chart(UNMEASURED)


def test_the_experiments_table_names_each_restores_rto_and_rpo(report):
    md = to_markdown(report)
    row = next(line for line in md.splitlines() if line.startswith("| bad-migration-restore |"))
    assert "bad-migration-restore [95.0, 97.5] s" in row
    assert "restore-from-incremental not measured" in row
    assert "bad-migration-restore 0.4 s" in row


def test_junit_has_a_case_for_the_backup_policy_that_fails_when_it_did_not_hold(report):
    case = ET.fromstring(to_junit(report)).find(".//testcase[@name='backup_policy']")
    assert case is not None and case.get("classname") == "drill.quarterly.backups"
    assert "encryption at rest" in case.find("failure").get("message")
