"""Renderings of a Report: JSON (the model itself), Markdown for chat and mail, JUnit XML for CI, and
self-contained HTML. They read the Report model only."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from drillkit.model.backup import PolicyCheck
from drillkit.model.measurements import Restore
from drillkit.model.report import BackupsReport, Report, RestoreReport, RunReport
from drillkit.redaction import redact
from drillkit.report import charts, junit, openmetrics
from drillkit.score import text

VERDICT_MARK = {"met": "met", "not met": "**NOT MET**", "not measured": "**NOT MEASURED**"}
POLICY_WORDS = {"met": "held", "not met": "did NOT hold", "not measured": "was NOT CHECKED"}
ENCRYPTION = "encryption at rest"


def to_json(report: Report) -> str:
    return report.to_json()


def stop_lines(report: Report) -> list[str]:
    """The stop condition that aborted the drill: which, when, on what; the measurements up to then are kept."""
    stop = report.stopped_by
    if stop is None:
        return []
    when = "before the first fault: nothing was injected" if stop.before_faults else (
        f"{stop.at_utc}" + (f", T+{stop.at_s:.1f} s on the run's clock" if stop.at_s is not None else ""))
    seen = "could not be evaluated" if stop.reason == "unevaluable" else "fired"
    return ["", f"**{stop.verdict}** ({stop.kind}, {seen}) at {when}; value: {stop.value}. "
                "The rollbacks were played and the measurements up to then are kept below."]


def platform_line(report: Report) -> str:
    """The platform's verdict: what was observed about it, whatever the evidence."""
    if report.score is None:
        return f"Platform: no score: {report.platform}"
    return f"Platform: score {report.score:g}, grade {report.grade}: {report.platform}"


def evidence_line(report: Report) -> str:
    """The evidence's verdict: what was run and judged; a gap lowers this, never the platform's grade."""
    return f"Evidence: {report.evidence.verdict}: {report.evidence.summary}"


def evidence_gaps(report: Report) -> list[str]:
    return [f"{g.experiment}: {g.what}: {g.reason}" if g.experiment else f"{g.what}: {g.reason}"
            for g in report.evidence.gaps]


def to_markdown(report: Report) -> str:
    lines = [f"# Drill {report.drill}: {report.status.upper()}", "",
             f"{report.started_utc[:16].replace('T', ' ')} UTC against {headline_target(report)}.", "",
             f"- **{platform_line(report)}**", f"- **{evidence_line(report)}**"]
    if report.scope_note:
        lines += ["", f"**{report.scope_note}**"]
    lines += ["", f"{report.status_reason}"]
    lines += stop_lines(report)
    if report.grade_cap:
        lines += ["", f"Grade {report.grade}: {report.grade_cap} (the score alone reads {report.grade_from_score})."]
    lines += ["", "| objective | target | measured | verdict | context |", "|---|---|---|---|---|"]
    lines += [f"| {o.name} | {o.target} | {o.measured} | {VERDICT_MARK[o.verdict]} | {o.context} |"
              for o in report.objectives]
    if report.evidence.gaps:
        lines += ["", "Not judged (gaps in the evidence, not charged to the platform):",
                  *[f"- {gap}" for gap in evidence_gaps(report)]]
    if report.findings:
        lines += ["", "Findings:"]
        lines += [f"- {f.text}" + (f": {f.cause}" if f.cause else "") for f in report.findings]
    if report.fixes:
        lines += ["", "What to fix:", *[f"{i}. {fix}" for i, fix in enumerate(report.fixes, 1)]]
    lines += ["", "| experiment | score | RTO | RPO | lost writes | availability | p95 |", "|---" * 7 + "|"]
    for e in report.experiments:
        run = scored_run(e)
        if run is None or e.status == "not run":
            lines.append(f"| {e.name} | not run: {e.reason} | — | — | — | — | — |")
            continue
        lines.append(f"| {e.name} | {experiment_score(e)} | {run_rto(run)} | {run_rpo(run)} | {lost(run)} | "
                     f"{text.share(run.user_path.availability if run.user_path else None)} | "
                     f"{p95(run)} |")
    lines += [f"- {e.name}: the user path was {run.user_path.note}" for e in report.experiments
              if (run := scored_run(e)) is not None and run.user_path and run.user_path.note]
    lines += backups_markdown(report.backups)
    if report.deductions and report.score is not None:
        floored = ", floored at 0" if sum(d.points for d in report.deductions) > 100 else ""
        lines += ["", f"Platform score {report.score:g} = 100 − " + " − ".join(
            f"{d.points:g} ({d.experiment})" for d in report.deductions) + floored]
    if report.trend.regressions:
        lines += ["", "Regressions since the last complete drill:", *[f"- {r}" for r in report.trend.regressions]]
    if report.trend.note:
        lines += ["", f"Trend: {report.trend.note}."]
    return "\n".join(lines) + "\n"


def backups_markdown(backups: BackupsReport | None) -> list[str]:
    """The Backups section: the policy rule by rule, then each restore's figures, phases and checks."""
    if backups is None:
        return []
    lines = ["", "## Backups", "", f"Backup policy {POLICY_WORDS[backups.policy]}: {backups.reason}.",
             "", f"Time: {backups.time_scale_note}; every figure is real seconds."]
    if backups.check is not None:
        lines += ["", policy_line(backups.check), "", "| | rule | observed | why it failed |", "|---|---|---|---|"]
        lines += [f"| {mark(i.ok)} | {i.name} | {i.observed} | {i.reason} |" for i in backups.check.items]
    lines += ["", f"Encryption at rest: {encryption(backups.check)}."]
    for shown in backups.restores:
        r = shown.restore
        lines += ["", f"### {r.activity} (run {shown.repetition} of {shown.experiment}): {r.mode}", "",
                  f"- recovery target {r.recovery_target or '—'}; backups {' + '.join(r.backup_chain) or '—'}"
                  + (f"; {r.loss_placement}" if r.loss_placement else ""),
                  f"- RTO {restore_rto(r)}: {VERDICT_MARK[shown.rto]}",
                  f"- RPO {restore_rpo(r)} (objective {text.seconds(shown.rpo_objective_s)} at this time scale): "
                  f"{VERDICT_MARK[shown.rpo]}",
                  f"- checks: {VERDICT_MARK[shown.checks]}; {after_target(r)}",
                  f"- {data_age(r)}; restored {restored_size(r)}"]
        lines += [f"- why: {why}" for why in failing_reasons(shown)]
        lines += ["", "| phase | reached after T0 |", "|---|---|"]
        lines += [f"| {p.name} | {text.bounds(p.after_t0)} |" for p in r.phases] or ["| — | not measured |"]
        lines += ["", *[f"- {mark(c.ok)} {c.name}: {c.detail}" for c in r.checks]] if r.checks else \
            ["", "- no check was recorded"]
    if not backups.restores:
        lines += ["", "No restore drill ran."]
    return lines


def failing_reasons(shown: RestoreReport) -> list[str]:
    """The reasons of the verdicts that were not met (they come first in `reasons`)."""
    return shown.reasons[:sum(1 for v in (shown.rto, shown.rpo, shown.checks) if v != "met")]


def policy_line(check: PolicyCheck) -> str:
    return (f"Checked {check.checked_utc[:19].replace('T', ' ')} UTC on server {check.server} against "
            f"{check.policy_file}: {len(check.backups)} backups kept, newest restorable point "
            f"{check.newest_restorable_utc or 'none'}.")


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def encryption(check: PolicyCheck | None) -> str:
    """The encryption-at-rest rule in words: ✓ or ✗ with what was observed, or "not checked"."""
    item = next((i for i in check.items if i.name == ENCRYPTION), None) if check is not None else None
    if item is None:
        return "not checked"
    return f"{mark(item.ok)} {item.observed}" + (f" ({item.reason})" if item.reason else "")


def restore_rto(r: Restore) -> str:
    if r.status != "measured":
        return "not measured"
    if r.rto is None:
        return "never serving"
    return text.bounds(r.rto)


def restore_rpo(r: Restore) -> str:
    if r.status != "measured" or r.rpo is None or r.rpo.status != "measured" or r.rpo.seconds is None:
        return "not measured"
    return ("≥ " if r.rpo.at_least else "") + text.seconds(r.rpo.seconds) + f" ({r.rpo.lost} acknowledged writes lost)"


def after_target(r: Restore) -> str:
    if r.status != "measured":
        return "the copy was not compared with the ledger"
    return (f"{r.after_target_absent} writes after the recovery target absent, {r.after_target_present} present"
            + (" (the target overshot)" if r.after_target_present else ""))


def data_age(r: Restore) -> str:
    """How old the restored data was at T0: T0 minus the newest acknowledged write the copy holds."""
    if r.status != "measured" or r.newest_recovered_before_t0_s is None:
        return "data age at T0 not measured"
    return f"the newest acknowledged write in the copy is {text.seconds(r.newest_recovered_before_t0_s)} older than T0"


def restored_size(r: Restore) -> str:
    return "size not measured" if r.restored_bytes is None else f"{r.restored_bytes / 1e6:.1f} MB"


def to_junit(report: Report) -> str:
    """One test case per gate per run, one per objective row; aborted or invalid runs add an error."""
    drill = f"drill.{report.drill}"
    cases = [junit.Case(f"{drill}.{e.name}", f"{gate.name}#{run.repetition}",
                        failure=None if gate.passed else f"{gate.verdict}: {gate.reason}", detail=gate.reason)
             for e in report.experiments for run in e.runs for gate in run.gates]
    cases += [junit.Case(f"{drill}.{e.name}", "run", failure=f"not run: {e.reason}", detail=e.reason)
              for e in report.experiments if not e.runs]
    cases += [junit.Case(f"{drill}.objectives", row.name, detail=row.reason,
                         failure=None if row.verdict == "met" else f"{row.verdict}: {row.reason}")
              for row in report.objectives]
    if report.backups is not None:
        policy = report.backups
        cases.append(junit.Case(f"{drill}.backups", "backup_policy", detail=policy.reason,
                                failure=None if policy.policy == "met" else f"{policy.policy}: {policy.reason}"))
    if report.status in ("aborted", "invalid"):
        cases.append(junit.Case(drill, "run_valid", error=f"{report.status}: {report.status_reason}"))
    return junit.suite(drill, cases)


def to_html(report: Report) -> str:
    return page("report.html.j2", report=report)


@functools.cache
def _templates() -> Environment:
    environment = Environment(loader=PackageLoader("drillkit.report", "templates"),
                              autoescape=select_autoescape(["html", "j2"]))
    environment.filters.update(share=text.share, seconds=text.seconds, bounds=text.bounds)
    environment.globals.update(timeline_chart=charts.timeline_chart, trend_chart=charts.trend_chart,
                               restore_chart=charts.restore_chart, restore_rto=restore_rto, restore_rpo=restore_rpo,
                               after_target=after_target, data_age=data_age, restored_size=restored_size,
                               encryption=encryption, policy_line=policy_line,
                               mark=mark, policy_words=POLICY_WORDS, failing_reasons=failing_reasons,
                               headline_target=headline_target, run_rto=run_rto, run_rpo=run_rpo, lost=lost,
                               p95=p95, latency=latency, timeouts=timeouts, scored_run=scored_run,
                               platform_line=platform_line, evidence_line=evidence_line, evidence_gaps=evidence_gaps,
                               experiment_score=experiment_score)
    return environment


def page(template: str, **context: Any) -> str:
    """The HTML page TEMPLATE (in report/templates) rendered with CONTEXT."""
    return _templates().get_template(template).render(**context)


RENDERINGS = {"report.json": to_json, "report.md": to_markdown, "junit.xml": to_junit, "report.html": to_html,
              "metrics.prom": openmetrics.render}


def write_all(report: Report, run_dir: Path) -> list[Path]:
    written = []
    for name, render in RENDERINGS.items():
        path = run_dir / name
        path.write_text(redact(render(report)))  # no secret reaches a report, whatever it quotes
        written.append(path)
    return written


def headline_target(report: Report) -> str:
    name = report.target_name or report.target
    return f"{name} ({report.target_kind or 'kind unknown'})"


def scored_run(e) -> RunReport | None:
    """The run an experiment is scored by (its worst judged one); None when it never ran."""
    return next((r for r in e.runs if r.repetition == e.scored_repetition), e.runs[0] if e.runs else None)


def experiment_score(e) -> str:
    return "not judged" if e.score is None else f"{e.score:g}"


def run_rto(run: RunReport) -> str:
    """Each fault's RTO, then each restore's (named)."""
    if not run.recoveries and not run.restores:
        return "not measured"
    shown = []
    for t in run.recoveries:
        if t.fault.confirmed is None:
            shown.append("not injected")
        else:  # a figure when there is one, else what the status says
            shown.append(text.bounds(t.rto) if t.status in ("measured", "not recovered") else t.status)
    shown += [f"{r.activity} {restore_rto(r)}" for r in run.restores]
    return "; ".join(shown)


def run_rpo(run: RunReport) -> str:
    """The ledger's RPO (when a ledger ran), then each restore's (named)."""
    restores = [f"{r.activity} {restore_rpo(r)}" for r in run.restores]
    r = run.rpo
    if restores:  # a restore drill's own ledger is vacuous: its restores are its RPO
        return "; ".join(restores)
    if r is None or r.status != "measured" or r.seconds is None:
        return "; ".join(["not measured", *restores])
    return "; ".join([("≥ " if r.at_least else "") + text.seconds(r.seconds), *restores])


def lost(run: RunReport) -> str:
    """Acknowledged writes lost: at failover (and after the fault), or missing from a restored copy."""
    if run.restores:
        figures = [restore.rpo for restore in run.restores]
        if any(f is None or f.status != "measured" for f in figures):
            return "not measured"
        return f"{sum(f.lost for f in figures if f is not None)} (missing from the restored copy)"
    r = run.rpo
    if r is None or r.status != "measured":
        return "not measured"
    return f"{r.lost} + {r.split_brain.count} split brain" if r.split_brain.count else str(r.lost)


def p95(run: RunReport) -> str:
    return latency(run, "p95_ms")


def latency(run: RunReport, field: str) -> str:
    """A percentile of successful answers; with no success at all but timeouts, "≥ the timeout"."""
    sli = run.user_path
    if sli is None:
        return "—"
    value = getattr(sli, field)
    if value is None and sli.timeouts:
        return timeouts(run)
    return text.timeout(value, run.timeout_s * 1000 if run.timeout_s else None)


def timeouts(run: RunReport) -> str:
    sli = run.user_path
    if sli is None or not sli.timeouts:
        return "none"
    limit = f"≥ {run.timeout_s:g} s" if run.timeout_s else "≥ the timeout"
    return f"{sli.timeouts} timed out ({limit})"
