"""Hand-built raw input for the analysis: the user path probed every 50 ms (a write and its read-back
per slot), faults with their T0 interval, and one call of analyze()."""

from __future__ import annotations

from drillkit.measure.analysis import USER_PROBER, AnalysisSettings, analyze
from drillkit.measure.ledger import Write
from drillkit.measure.samples import FaultEvent, Sample
from drillkit.model.measurements import Measurements
from drillkit.model.objectives import Objectives

STEP = 0.05
ORIGIN = 1000.0  # monotonic; every figure in Measurements is seconds after it
SETTINGS = AnalysisSettings(interval_s=STEP, write_interval_s=0.1, timeout_s=2.0, stable_window_s=5.0,
                            max_recovery_s=60.0, min_coverage=0.9, sustain_s=2.0, impact_within_s=30.0)
OBJECTIVES = Objectives()


def at(t: float) -> float:
    """Seconds after the origin, as a monotonic time."""
    return ORIGIN + t


def slot_times(start: float, end: float) -> list[float]:
    return [round(at(start) + n * STEP, 6) for n in range(round((end - start) / STEP))]


def user_path(start: float, end: float, *, ok: bool = True, latency: float = 0.01, lag: float = 0.0,
              error: str = "connect") -> list[Sample]:
    """Slots from START to END (seconds after origin): each a write and its read-back. A failed write's
    read-back is never sent ("not_sent"); LAG delays every send (the instrument's lateness)."""
    rows = []
    for intended in slot_times(start, end):
        rows += slot(intended, ok=ok, latency=latency, lag=lag, error=error)
    return rows


def slot(intended: float, *, ok: bool = True, latency: float = 0.01, lag: float = 0.0,
         error: str = "connect") -> list[Sample]:
    write_latency = lag + latency
    if not ok:
        answered = 0 if error in ("connect", "timeout") else 503
        write = Sample(USER_PROBER, "global", "write", intended, intended + lag, write_latency, answered, error)
        return [write, Sample(USER_PROBER, "global", "read_back", intended, None, write_latency, 0, "not_sent")]
    write = Sample(USER_PROBER, "global", "write", intended, intended + lag, write_latency, 201, "")
    # as the prober does: a read-back is a request of its own, due (and sent) when its write answered
    read_back = Sample(USER_PROBER, "global", "read_back", write.completed, write.completed, 0.005, 200, "")
    return [write, read_back]


def fault(t: float, *, name: str = "kill_primary", issued_before: float = 0.0) -> FaultEvent:
    """A fault confirmed at T seconds after origin, issued ISSUED_BEFORE seconds earlier."""
    return FaultEvent(name, name, at(t - issued_before), at(t))


def run(samples: list[Sample], *, faults: list[FaultEvent] = (), ended: float, writes: list[Write] = (),
        stored: dict[str, set[int]] | None = None, reconcile_error: str | None = None,
        rollbacks: tuple[float, float | None] | None = None, leaders: list[tuple[float, str]] = (),
        settings: AnalysisSettings = SETTINGS, restore_records: list = ()) -> Measurements:
    return analyze(
        samples=samples, writes=list(writes), stored=stored, reconcile_error=reconcile_error, faults=list(faults),
        rollbacks=None if rollbacks is None else (at(rollbacks[0]), None if rollbacks[1] is None else at(rollbacks[1])),
        leaders=[(at(t), name) for t, name in leaders], lags=[], settings=settings, objectives=OBJECTIVES,
        origin=ORIGIN, ended=at(ended), stopped="stable", restore_records=list(restore_records),
    )
