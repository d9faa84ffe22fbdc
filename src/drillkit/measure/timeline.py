"""Each fault's recovery timeline, from the incidents observed on the user path.

    T0          the interval [issued, confirmed]: just before the fault's action was issued, and when
                its activity confirmed the fault was in place
    T_detect    when the first bad request of the attributed incident was known bad (a failure's answer,
                or a slow request's intended time plus the latency threshold)
    T_promoted  the first new database leader observed after T0's lower end (at most one poll late)
    T_first_ok  the first good answer after T_detect
    T_stable    R_upper: the answer of the first good request sent after the last bad one before the
                incident's stable window
    RTO         [R_lower − T0_upper, R_upper − T0_lower]: the widest the observations allow

An incident is attributed to a fault when it began at or after the fault was issued and within
impact_within_s of its confirmation; with several such faults, to the latest one issued before it.
A fault with no attributed incident has "no impact" only when the user path was observed (good or
bad seconds, not thin or degraded) for min_coverage of the impact_within_s seconds after its T0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drillkit.measure.incidents import Found
from drillkit.measure.samples import FaultEvent
from drillkit.measure.seconds import Second
from drillkit.model.measurements import Bounds, FaultMark, FaultTimeline, RecoveryMode


@dataclass(frozen=True)
class Context:
    """What every fault's timeline is read against (monotonic times)."""

    seconds: list[Second]
    incidents: list[Found]
    rollbacks: tuple[float, float | None] | None
    leaders: list[tuple[float, str]]
    origin: float
    ended: float
    impact_within_s: float
    min_coverage: float


def attribute(faults: list[FaultEvent], incident: Found, impact_within_s: float) -> tuple[FaultEvent | None, str]:
    """The fault INCIDENT is attributed to, and why (or why none)."""
    eligible = [(f, f.confirmed) for f in faults if f.confirmed is not None
                and f.issued <= incident.detect <= f.confirmed + impact_within_s]
    if not eligible:
        return None, f"no fault was injected in the {impact_within_s:g} s before it began"
    chosen, confirmed = max(eligible, key=lambda pair: pair[0].issued)
    why = (f"began {incident.detect - confirmed:.2f} s after {_name(chosen)} was confirmed, "
           f"within the {impact_within_s:g} s an impact is attributed")
    others = [_name(f) for f, _ in eligible if f is not chosen]
    if others:
        why += f"; the latest of {len(eligible)} faults injected before it (also: {', '.join(others)})"
    return chosen, why


def timelines(faults: list[FaultEvent], context: Context) -> list[FaultTimeline]:
    owners = [attribute(faults, found, context.impact_within_s)[0] for found in context.incidents]
    return [_timeline(fault, faults, owners, context) for fault in faults]


def _window_end(fault: FaultEvent, confirmed: float, faults: list[FaultEvent], context: Context) -> float:
    """Where the fault's impact window ends: impact_within_s after T0 (CONFIRMED), or earlier when the next
    fault was issued before that (what follows belongs to the next fault; this one was silent until then)."""
    later = [f.issued for f in faults if f is not fault and f.confirmed is not None and f.issued > confirmed]
    return min([confirmed + context.impact_within_s, *later])


def _timeline(fault: FaultEvent, faults: list[FaultEvent], owners: list[FaultEvent | None],
              context: Context) -> FaultTimeline:
    mark = mark_of(fault, context.origin)
    if fault.confirmed is None:
        return FaultTimeline(fault=mark, status="not measured", reason=f"not injected: {fault.error or 'unconfirmed'}")
    confirmed = fault.confirmed
    common = _instants(fault, confirmed, context)
    mine = [index for index, owner in enumerate(owners) if owner is fault]
    if mine:
        return _impact(fault, confirmed, mine[0], context, mark, common)
    ongoing = next((i for i, f in enumerate(context.incidents) if f.detect < fault.issued
                    and (f.recovery_upper is None or f.recovery_upper > fault.issued)), None)
    if ongoing is not None:
        return FaultTimeline(fault=mark, status="not measured", **common,
                             reason=f"incident {ongoing} was already under way at T0: its impact cannot be told apart")
    window_end = _window_end(fault, confirmed, faults, context)
    masked = next((i for i, f in enumerate(context.incidents) if fault.issued <= f.detect <= window_end), None)
    if masked is not None:
        owner = owners[masked]
        return FaultTimeline(fault=mark, status="not measured", **common,
                             reason=f"incident {masked} began within its impact window but is attributed to "
                                    f"{_name(owner) if owner else 'no fault'}")
    covered, needed = _coverage(confirmed, context, until=window_end)
    if covered < context.min_coverage * needed:
        return FaultTimeline(fault=mark, status="not measured", **common,
                             reason=f"the user path was observed for {covered} of the {needed} s after T0")
    cut_short = window_end < confirmed + context.impact_within_s
    return FaultTimeline(fault=mark, status="no impact", **common,
                         reason=f"no incident began within {window_end - confirmed:.3g} s after T0"
                                + (" (until the next fault was injected)" if cut_short else ""))


def _impact(fault: FaultEvent, t0_upper: float, index: int, context: Context, mark: FaultMark,
            common: dict) -> FaultTimeline:
    found = context.incidents[index]
    rto = Bounds(lower=round(found.recovery_lower - t0_upper, 3),
                 upper=None if found.recovery_upper is None else round(found.recovery_upper - fault.issued, 3))
    fields = dict(fault=mark, incident=index, rto=rto, detect_after_t0=_after(found.detect, t0_upper),
                  first_ok_after_t0=_after(found.first_ok, t0_upper),
                  stable_after_t0=_after(found.recovery_upper, t0_upper), **common)
    if found.recovery_upper is not None:
        mode = _mode(found.recovery_lower, found.recovery_upper, context.rollbacks)
        return FaultTimeline(status="measured", recovery_mode=mode, **fields)
    covered, needed = _coverage(found.recovery_lower, context, until=context.ended)
    if covered < context.min_coverage * needed:
        return FaultTimeline(status="not measured", **fields,
                             reason=f"observations stopped before recovery ({covered} of {needed} s observed "
                                    "after the last bad request)")
    return FaultTimeline(status="not recovered", **fields, reason="no stable window before measurement stopped")


def _instants(fault: FaultEvent, confirmed: float, context: Context) -> dict:
    started, ended = context.rollbacks or (None, None)
    return dict(promoted_after_t0=_after(promoted(context.leaders, fault.issued), confirmed),
                rollbacks_started_after_t0=_after(started, confirmed),
                rollbacks_ended_after_t0=_after(ended, confirmed))


def _coverage(since: float, context: Context, until: float | None = None) -> tuple[int, int]:
    """Judged (good or bad) seconds, and all seconds, from SINCE to UNTIL (default: impact_within_s later)."""
    until = since + context.impact_within_s if until is None else until
    low, high = math.floor(since - context.origin), math.ceil(until - context.origin)
    judged = sum(s.state in ("good", "bad") for s in context.seconds if low <= s.t < high)
    return judged, max(high - low, 1)


def _mode(recovery_lower: float, recovery_upper: float, rollbacks: tuple[float, float | None] | None) -> RecoveryMode:
    if rollbacks is None:
        return "no rollbacks"
    started, ended = rollbacks
    if recovery_upper <= started:
        return "before rollbacks"
    if ended is not None and recovery_lower >= ended:
        return "after rollbacks"
    return "during rollbacks"


def promoted(leaders: list[tuple[float, str]], since: float) -> float | None:
    """The first leader, observed after SINCE, other than the one leading before it."""
    before = [name for at, name in leaders if at <= since and name]
    previous = before[-1] if before else None
    return next((at for at, name in leaders if at > since and name and name != previous), None)


def mark_of(fault: FaultEvent, origin: float) -> FaultMark:
    return FaultMark(fault=fault.fault, activity=fault.activity, issued=round(fault.issued - origin, 6),
                     confirmed=None if fault.confirmed is None else round(fault.confirmed - origin, 6),
                     error=fault.error)


def _after(instant: float | None, t0: float) -> float | None:
    return None if instant is None else round(instant - t0, 3)


def _name(fault: FaultEvent) -> str:
    return fault.activity or fault.fault
