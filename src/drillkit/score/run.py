"""One run scored: its gates, the platform's deductions (observed harm only), what could not be judged,
and the figures the report shows for it."""

from __future__ import annotations

from drillkit.model.measurements import Measurements
from drillkit.model.objectives import Objectives
from drillkit.model.report import InstrumentFigures, ProberFigures, RunReport
from drillkit.model.result import RunRecord
from drillkit.score import deductions as charge
from drillkit.score.chart import chart
from drillkit.score.gates import run_gates


def score_run(record: RunRecord, objectives: Objectives, time_scale: float = 1.0) -> RunReport:
    m = record.measurements
    gates = run_gates(record, objectives, time_scale)
    every = charge.run_deductions(m, gates, objectives)
    charged = charge.platform(every)
    score = round(max(0.0, 100.0 - sum(d.points for d in charged)), 2)
    figures = _figures(m) if m is not None else {}
    platform_gates = [g for g in gates if g.name not in charge.EVIDENCE_GATES]
    unjudged = [f"gate {g.name} not measured: {g.reason}" for g in gates if g.verdict == "not measured"]
    unjudged += [f"gate {g.name} not met: {g.reason}" for g in gates
                 if g.verdict == "not met" and g.name in charge.EVIDENCE_GATES]
    unjudged += [f"gate {g.name}, beside its failure, not measured: {why}" for g in gates for why in g.unjudged]
    judged = sum(g.verdict != "not measured" for g in platform_gates)
    return RunReport(experiment=record.experiment, repetition=record.repetition, run_id=record.run_id,
                     run_dir=record.run_dir, status=record.status, causes=record.causes, measured=m is not None,
                     stopped_by=record.stopped_by,
                     gates=gates, deductions=charged, unjudged=unjudged + charge.unjudged(every), score=score,
                     coverage=round(judged / max(1, len(platform_gates)), 4),
                     platform_failed=any(g.verdict == "not met" for g in platform_gates),
                     passed=all(g.passed for g in gates), **figures)


def _figures(m: Measurements) -> dict:
    return {
        "stopped": m.stopped, "duration_s": m.duration_s, "timeout_s": _timeout(m), "recoveries": m.timelines,
        "rpo": m.rpo, "restores": m.restores,
        "user_path": m.user_path.model_copy(update={"histogram": ""}),
        "endpoints": {name: sli.model_copy(update={"histogram": ""}) for name, sli in m.endpoints.items()},
        "instrument": _instrument(m), "incidents": m.incidents,
        "budget_consumed": m.budget.model_dump(), "chart": chart(m),
    }


def _instrument(m: Measurements) -> InstrumentFigures:
    probers = [ProberFigures(name=p.name, scheduled=p.scheduled, sent=p.sent, answered=p.answered,
                             send_errors=p.send_errors, lag_p99_ms=p.lag_p99_ms, lag_max_ms=p.lag_max_ms)
               for p in m.instrument.probers]
    lags = [p.lag_p99_ms for p in probers if p.lag_p99_ms is not None]
    use = m.instrument.process
    priority = "" if use is None else f"nice {use.nice}" + ("" if use.priority == "raised" else f" ({use.priority})")
    return InstrumentFigures(degraded_s=m.instrument.degraded_s, degraded=m.instrument.degraded, probers=probers,
                             send_lag_p99_ms=max(lags) if lags else None,
                             cpu_share=None if use is None else round(use.cpu_share, 3), priority=priority)


def _timeout(m: Measurements) -> float | None:
    value = m.settings.get("timeout_s")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
