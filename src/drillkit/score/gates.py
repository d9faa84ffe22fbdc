"""The hard gates of one run. A figure that was not measured fails its gate as "not measured"."""

from __future__ import annotations

from collections.abc import Callable

from drillkit.model.measurements import FaultTimeline, Incident, Measurements, RtoStatus
from drillkit.model.objectives import Objectives
from drillkit.model.report import Gate, GateName, Verdict
from drillkit.model.result import RunRecord
from drillkit.score import restores, text

NOT_MEASURED: Verdict = "not measured"
# an observed failure is never hidden by a gap beside it: "not met" wins, then "not measured"
RANK: dict[Verdict, int] = {"met": 0, "not measured": 1, "not met": 2}


def run_gates(record: RunRecord, objectives: Objectives, time_scale: float = 1.0) -> list[Gate]:
    """TIME_SCALE: the backups' (policy seconds per real second), which a restore's RPO is judged at."""
    m = record.measurements
    gates = [_rollbacks(record)]
    if m is None:
        why = f"the run left no measurements ({record.status})"
        return [Gate(name=name, verdict=NOT_MEASURED, reason=why) for name in GATES] + gates
    gates += [_steady_state(record, m), rpo(m, objectives, time_scale), rto(m, objectives), instrument(m, objectives)]
    if m.restores:  # a restore drill proves a restored copy; its own ledger is vacuous (no failover to lose after)
        gates.append(restore_checks(m))
    else:
        gates += [split_brain(m, objectives), unexpected_rows(m, objectives)]
    return sorted(gates, key=lambda gate: ORDER.index(gate.name))


def combine(name: GateName, parts: list[tuple[Verdict, str]]) -> Gate:
    """"not met" anywhere wins, then "not measured"; the reasons of every failing part are kept, and the parts
    not measured beside an observed failure stay listed as unjudged."""
    verdict = max((v for v, _ in parts), key=RANK.__getitem__, default=NOT_MEASURED)
    failing = [why for v, why in parts if v != "met"]
    unjudged = [why for v, why in parts if v == NOT_MEASURED] if verdict == "not met" else []
    return Gate(name=name, verdict=verdict, reason="; ".join(failing or [why for _, why in parts]),
                unjudged=unjudged)


def rto(m: Measurements, objectives: Objectives) -> Gate:
    """Every fault's recovery and every restore's time to serving; the worst wins."""
    if not m.timelines and not m.restores:
        return Gate(name="rto", verdict=NOT_MEASURED, reason="no fault timeline: no fault was recorded as injected")
    return combine("rto", [timeline_verdict(t, m, objectives) for t in m.timelines]
                   + [restores.rto_verdict(r, objectives) for r in m.restores])


def timeline_verdict(t: FaultTimeline, m: Measurements, objectives: Objectives) -> tuple[Verdict, str]:
    name = t.fault.activity or t.fault.fault
    if t.fault.confirmed is None:
        return NOT_MEASURED, f"{name} was never injected: {t.fault.error or 'its injection was not confirmed'}"
    return _RTO_VERDICTS[t.status](name, t, m, objectives)


def _rto_not_measured(name: str, t: FaultTimeline, m: Measurements, objectives: Objectives) -> tuple[Verdict, str]:
    return NOT_MEASURED, f"{name}: RTO not measured: {t.reason or 'no reason recorded'}"


def _no_impact(name: str, t: FaultTimeline, m: Measurements, objectives: Objectives) -> tuple[Verdict, str]:
    if m.user_path.status != "measured":
        return NOT_MEASURED, f"{name}: no impact seen, but the user path was not measured: {m.user_path.reason}"
    return "met", f"{name}: no impact on the user path"


def _rto_measured(name: str, t: FaultTimeline, m: Measurements, objectives: Objectives) -> tuple[Verdict, str]:
    if t.status == "not recovered" or t.rto is None or t.rto.upper is None:
        return "not met", f"{name}: users were not served well again: RTO {text.bounds(t.rto)}"
    met = t.rto.upper <= objectives.rto_seconds
    return ("met" if met else "not met"), (f"{name}: RTO {text.bounds(t.rto)}, objective "
                                          f"{text.seconds(objectives.rto_seconds)}")


_RTO_VERDICTS: dict[RtoStatus, Callable[[str, FaultTimeline, Measurements, Objectives], tuple[Verdict, str]]] = {
    "not measured": _rto_not_measured,
    "no impact": _no_impact,
    "not recovered": _rto_measured,
    "measured": _rto_measured,
}


def rpo(m: Measurements, objectives: Objectives, time_scale: float = 1.0) -> Gate:
    """The ledger's RPO, or in a restore drill every restore's (its own ledger is vacuous); the worst wins."""
    parts = [ledger_rpo_verdict(m, objectives)] if not m.restores else []
    return combine("rpo", parts + [restores.rpo_verdict(r, objectives, time_scale) for r in m.restores])


def ledger_rpo_verdict(m: Measurements, objectives: Objectives) -> tuple[Verdict, str]:
    r = m.rpo
    if r is None or r.status != "measured" or r.seconds is None:
        return NOT_MEASURED, _no_rpo(m)
    if r.at_least:
        return "not met", (f"RPO at least {text.seconds(r.seconds)}: the loss reaches the ledger's first write, "
                           "so the true RPO is unknown")
    met = r.seconds <= objectives.rpo_seconds
    return ("met" if met else "not met"), (f"RPO {text.seconds(r.seconds)} ({r.lost} acknowledged writes lost "
                                          f"before the fault), objective {text.seconds(objectives.rpo_seconds)}")


def restore_checks(m: Measurements) -> Gate:
    """Each restored copy proved what a restore test must: its checks passed, nothing after the target."""
    return combine("restore_checks", [restores.checks_verdict(r) for r in m.restores])


def split_brain(m: Measurements, objectives: Objectives) -> Gate:
    if m.rpo is None or m.rpo.status != "measured":
        return Gate(name="split_brain", verdict=NOT_MEASURED, reason=_no_rpo(m))
    loss = m.rpo.split_brain
    if loss.status != "measured":
        return Gate(name="split_brain", verdict=NOT_MEASURED, reason=loss.reason)
    if loss.count:
        return Gate(name="split_brain", verdict="not met",
                    reason=f"{loss.count} writes acknowledged after the fault were lost, over "
                           f"{text.seconds(loss.span_s)}")
    return Gate(name="split_brain", verdict="met", reason="no write acknowledged after the fault was lost")


def unexpected_rows(m: Measurements, objectives: Objectives) -> Gate:
    if m.rpo is None or m.rpo.status != "measured":
        return Gate(name="unexpected_rows", verdict=NOT_MEASURED, reason=_no_rpo(m))
    if m.rpo.unexpected:
        return Gate(name="unexpected_rows", verdict="not met",
                    reason=f"{m.rpo.unexpected} rows appeared that no writer sent")
    return Gate(name="unexpected_rows", verdict="met", reason="no row appeared that no writer sent")


def instrument(m: Measurements, objectives: Objectives) -> Gate:
    if not any(p.scheduled for p in m.instrument.probers):
        return Gate(name="instrument", verdict=NOT_MEASURED, reason="no prober had anything scheduled")
    limit = objectives.policy.instrument_degraded_share
    degraded = m.instrument.degraded_s / m.duration_s if m.duration_s > 0 else 1.0
    why = (f"the instrument lagged its schedule for {text.seconds(m.instrument.degraded_s)} of "
           f"{text.seconds(m.duration_s)} ({text.share(degraded, 1)}; the policy allows {text.share(limit, 0)})")
    return Gate(name="instrument", verdict="met" if degraded <= limit else "not met", reason=why)


def _steady_state(record: RunRecord, m: Measurements) -> Gate:
    """The hypothesis held, every incident is a fault's, and every one ended. Where the instrument was blind
    (before an incident it cannot attribute, or after one it never saw end) the verdict is the evidence's:
    "not measured", never a platform failure."""
    parts: list[tuple[Verdict, str]] = []
    if not record.steady_state_ok:
        parts.append(("not met", "the steady-state hypothesis did not hold after the method"))
    for incident in m.incidents:
        if incident.attributed_to is None:
            parts.append(_unexplained(incident, m))
        if incident.end is None:
            parts.append(_still_open(incident, m))
    if not parts:
        return Gate(name="steady_state", verdict="met",
                    reason="the hypothesis held and every incident was a fault's and ended")
    return combine("steady_state", parts)


def _unexplained(incident: Incident, m: Measurements) -> tuple[Verdict, str]:
    why = f": {incident.attribution}" if incident.attribution else ""
    said = (f"users saw {incident.bad_requests} bad requests from {incident.start:.1f} s "
            f"({incident.phase or 'unknown phase'}) that no injected fault explains{why}")
    earliest = _blind_since(incident, m)
    within = float(m.settings.get("impact_within_s", 20.0))
    owner = next((f for f in m.faults if f.confirmed is not None and f.issued <= incident.start
                  and earliest <= f.confirmed + within), None)
    if earliest < incident.start and owner is not None:
        return NOT_MEASURED, (f"{said}; but the instrument observed nothing from {earliest:.1f} s until it: it may "
                              f"have begun within {owner.activity or owner.fault}'s impact window")
    return "not met", said


def _still_open(incident: Incident, m: Measurements) -> tuple[Verdict, str]:
    said = f"an incident from {incident.start:.1f} s was not over when measurement stopped ({m.stopped})"
    after = [p for p in m.series if p.t > incident.recovery.lower]
    judged = sum(p.state in ("good", "bad") for p in after)
    if judged < float(m.settings.get("min_coverage", 0.9)) * len(after):
        return NOT_MEASURED, f"{said}; the instrument judged only {judged} of the {len(after)} s after its last " \
                             "bad request: whether it ended was not seen"
    return "not met", said


def _blind_since(incident: Incident, m: Measurements) -> float:
    """The start of the unobserved seconds (degraded or thin) just before INCIDENT's first bad second: the
    earliest it may really have begun."""
    first = int(incident.start)
    states = {p.t: p.state for p in m.series}
    second = first - 1
    while states.get(second) in ("degraded", "thin"):
        second -= 1
    return float(second + 1) if second + 1 < first else incident.start


def _rollbacks(record: RunRecord) -> Gate:
    if record.rollbacks_ok:
        return Gate(name="rollbacks", verdict="met", reason="every rollback succeeded")
    causes = "; ".join(record.causes) or f"run status {record.status}"
    return Gate(name="rollbacks", verdict="not met", reason=f"rollbacks failed: {causes}")


def _no_rpo(m: Measurements) -> str:
    if m.rpo is None:
        return "no ledger ran in this run"
    return f"the ledger was not reconciled: {m.rpo.reason or 'no reason recorded'}"


ORDER: list[GateName] = ["rto", "rpo", "split_brain", "unexpected_rows", "restore_checks", "rollbacks",
                         "steady_state", "instrument"]
GATES: list[GateName] = [g for g in ORDER if g not in ("rollbacks", "restore_checks")]
