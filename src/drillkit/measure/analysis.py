"""Everything one measurement session observed, analysed: a pure function of the raw rows
(samples, ledger writes, faults, rollbacks, leader polls) to the Measurements model.

docs/measurement.md says what every instant and figure means; the modules it calls each do one job:
    instrument  the probers' own health and where they were degraded
    seconds     per-second states of the user path (good, bad, degraded, thin)
    incidents   sustained badness and its recovery bounds
    timeline    each fault's attribution, RTO bounds and recovery mode
    slo         SLIs and the error budget consumed
    ledger      the RPO in parts
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from drillkit import clock
from drillkit.measure import incidents, instrument, ledger, restore, seconds, slo, timeline
from drillkit.measure.instrument import Checked
from drillkit.measure.samples import FaultEvent, Sample
from drillkit.model.measurements import (
    Bounds,
    Incident,
    Instrument,
    Measurements,
    ProcessUse,
    Rpo,
    SecondPoint,
    Sli,
    Span,
)
from drillkit.model.objectives import Objectives

# RTO, incidents and the headline SLIs are judged on the user's path: a write and its read-back
# through the global endpoint.
USER_PROBER = "global/write_read"
USER_KINDS = ("write", "read_back", "read")  # "read": the user path of a target without a write probe
READS_ONLY = "reads only: the target names no write probe (probes.write), so no write was measured on the user path"


@dataclass(frozen=True)
class AnalysisSettings:
    interval_s: float = 0.05           # between a prober's scheduled requests
    write_interval_s: float = 0.1      # between a ledger writer's writes
    timeout_s: float = 2.0             # a request unanswered this long after its slot timed out
    stable_window_s: float = 10.0      # consecutive good seconds that end an incident
    max_recovery_s: float = 300.0      # how long the session waits for recovery after T0
    min_coverage: float = 0.9          # share of a second's scheduled requests that must conclude to judge it
    sustain_s: float = 2.0             # bad seconds, with no good one between, that make an incident
    impact_within_s: float = 20.0      # an incident beginning this soon after a fault's T0 is attributed to it


Rollbacks = tuple[float, float | None] | None


def analyze(
    *, samples: list[Sample], writes: list[ledger.Write], stored: dict[str, set[int]] | None,
    reconcile_error: str | None, faults: list[FaultEvent], rollbacks: Rollbacks,
    leaders: list[tuple[float, str]], lags: list[int], settings: AnalysisSettings, objectives: Objectives,
    origin: float, ended: float, stopped: str, restore_records: Sequence[restore.Found] = (),
    process: ProcessUse | None = None,
) -> Measurements:
    """The Measurements of one session; every monotonic time becomes seconds since ORIGIN. RESTORE_RECORDS:
    what the run's restore procedures recorded (measure/restore.py reads them from the run folder). PROCESS:
    what the probe process said of its own CPU and priority (replay.process_use reads it)."""
    threshold = objectives.latency_threshold_ms / 1000
    checked = _checked_by_prober(samples, settings.interval_s, ended, threshold)
    user = _user_rows(checked)
    judged = _seconds(user, settings, objectives, origin, ended)
    found = incidents.find(judged, threshold=threshold, sustain_s=settings.sustain_s,
                           stable_window_s=settings.stable_window_s)
    context = timeline.Context(judged, found, rollbacks, leaders, origin, ended, settings.impact_within_s,
                               settings.min_coverage)
    lines = timeline.timelines(faults, context)
    rate = slo.Rate(sum(not c.late for c in user), ended - origin)
    restored = restore.restores(restore_records, writes, faults)
    return Measurements(
        origin_utc=clock.utc_of(origin).isoformat(), origin_monotonic=origin, duration_s=round(ended - origin, 3),
        stopped=stopped, settings={**asdict(settings), "latency_threshold_s": threshold},
        faults=[timeline.mark_of(f, origin) for f in faults], rollbacks=_rollbacks(rollbacks, origin, ended),
        leaders=[(round(at - origin, 3), name) for at, name in leaders],
        instrument=_instrument(checked, writes, settings, origin, ended, process),
        user_path=_user_sli(user, threshold),
        endpoints={name: _sli(rows, threshold) for name, rows in sorted(checked.items())},
        budget=slo.budget(bad_seconds=sum(s.state == "bad" for s in judged) + sum(f.unobserved_seconds for f in found),
                          failed=sum(not c.sample.succeeded for c in user if not c.late),
                          not_fast=sum(not c.sample.good(threshold) for c in user if not c.late),
                          rate=rate, objectives=objectives),
        incidents=[_incident(f, faults, rollbacks, settings, objectives, rate, origin) for f in found],
        timelines=lines,
        rpo=_session_rpo(writes, stored, faults, reconcile_error, lags, restoring=bool(restored)),
        restores=restored,
        series=[_point(s, threshold) for s in judged],
    )


def current_incidents(
    samples: list[Sample], *, settings: AnalysisSettings, objectives: Objectives, origin: float, now: float,
    faults: Sequence[FaultEvent] = (),
) -> list[Incident]:
    """The incidents so far, judged on the seconds whose requests have all concluded (up to NOW
    less the timeout). For the live session: cheap enough to call every half second."""
    threshold = objectives.latency_threshold_ms / 1000
    horizon = now - settings.timeout_s
    user = _user_rows(_checked_by_prober([s for s in samples if s.prober == USER_PROBER], settings.interval_s,
                                         horizon, threshold))
    judged = _seconds(user, settings, objectives, origin, horizon)
    found = incidents.find(judged, threshold=threshold, sustain_s=settings.sustain_s,
                           stable_window_s=settings.stable_window_s)
    rate = slo.Rate(sum(not c.late for c in user), now - origin)
    return [_incident(f, list(faults), None, settings, objectives, rate, origin) for f in found]


def recovered(
    samples: list[Sample], *, settings: AnalysisSettings, objectives: Objectives, origin: float, now: float,
    since: float,
) -> bool:
    """Whether the user path was good for each of the last stable_window_s whole seconds that have
    concluded, all of them after SINCE (monotonic): the live session's signal to stop measuring."""
    window = max(1, math.ceil(settings.stable_window_s - 1e-9))
    last = math.floor(now - settings.timeout_s - origin)
    first = last - window
    if origin + first < since:
        return False
    rows = [s for s in samples if s.prober == USER_PROBER and s.intended >= origin + first - 1]
    threshold = objectives.latency_threshold_ms / 1000
    user = _user_rows(_checked_by_prober(rows, settings.interval_s, origin + last, threshold))
    judged = seconds.seconds(user, interval=settings.interval_s, origin=origin, horizon=origin + last,
                             judge=seconds.Judge.of(objectives, settings.min_coverage), start=origin + first)
    return len(judged) == window and all(s.state == "good" for s in judged)


# -- parts -----------------------------------------------------------------------------------------


def _checked_by_prober(samples: list[Sample], interval: float, horizon: float,
                       threshold: float) -> dict[str, list[Checked]]:
    by_prober: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_prober[sample.prober].append(sample)
    return {name: instrument.with_stalls(instrument.checked(rows, interval), interval, horizon, threshold)
            for name, rows in by_prober.items()}


def _user_rows(checked: dict[str, list[Checked]]) -> list[Checked]:
    return [c for c in checked.get(USER_PROBER, []) if c.sample.kind in USER_KINDS]


def _seconds(user: list[Checked], settings: AnalysisSettings, objectives: Objectives, origin: float,
             horizon: float) -> list[seconds.Second]:
    return seconds.seconds(user, interval=settings.interval_s, origin=origin, horizon=horizon,
                           judge=seconds.Judge.of(objectives, settings.min_coverage))


def _user_sli(rows: list[Checked], threshold: float) -> Sli:
    """The user path's SLIs, saying so when its requests were reads only: they then judge no write."""
    measured = _sli(rows, threshold)
    if rows and not any(c.sample.kind == "write" for c in rows):
        return measured.model_copy(update={"note": READS_ONLY})
    return measured


def _sli(rows: list[Checked], threshold: float) -> Sli:
    return slo.sli([c.sample for c in rows if not c.late], excluded=sum(c.late for c in rows), threshold=threshold)


def _instrument(checked: dict[str, list[Checked]], writes: list[ledger.Write], settings: AnalysisSettings,
                origin: float, ended: float, process: ProcessUse | None) -> Instrument:
    by_writer: dict[str, list[ledger.Write]] = defaultdict(list)
    for write in writes:
        by_writer[write.writer].append(write)
    probers = [instrument.prober_health(name, rows, settings.interval_s, ended)
               for name, rows in sorted(checked.items())]
    probers += [instrument.writer_health(name, rows, settings.write_interval_s, ended)
                for name, rows in sorted(by_writer.items())]
    stretches = [instrument.Stretch(s.start, s.end, f"{name}: {s.reason}") for name, rows in checked.items()
                 for s in instrument.degraded(rows, settings.interval_s, ended)]
    stretches += [instrument.Stretch(s.start, s.end, f"ledger/{name}: {s.reason}") for name, rows in by_writer.items()
                  for s in instrument.writer_degraded(rows, settings.write_interval_s, ended)]
    stretches = instrument.merge(stretches)
    spans = [Span(start=round(s.start - origin, 3), end=round(s.end - origin, 3), reason=s.reason) for s in stretches]
    return Instrument(probers=probers, degraded=spans, degraded_s=round(sum(s.end - s.start for s in stretches), 3),
                      process=process)


def _incident(found: incidents.Found, faults: list[FaultEvent], rollbacks: Rollbacks, settings: AnalysisSettings,
              objectives: Objectives, rate: slo.Rate, origin: float) -> Incident:
    owner, why = timeline.attribute(faults, found, settings.impact_within_s)

    def rel(instant: float | None) -> float | None:
        return None if instant is None else round(instant - origin, 3)

    return Incident(
        start=rel(found.detect), end=rel(found.recovery_upper),
        recovery=Bounds(lower=rel(found.recovery_lower), upper=rel(found.recovery_upper)),
        first_ok=rel(found.first_ok), bad_requests=found.bad_requests, flaps=found.flaps,
        unobserved_s=found.unobserved_seconds,
        phase=_phase(found.detect, faults, rollbacks),
        attributed_to=None if owner is None else (owner.activity or owner.fault), attribution=why,
        budget=slo.budget(bad_seconds=found.bad_seconds, failed=found.failed, not_fast=found.bad_requests,
                          rate=rate, objectives=objectives),
    )


def _phase(at: float, faults: list[FaultEvent], rollbacks: Rollbacks) -> str:
    if rollbacks is not None and at >= rollbacks[0]:
        return "rollbacks" if rollbacks[1] is None or at < rollbacks[1] else "after rollbacks"
    return "method" if any(f.issued <= at for f in faults) else "before faults"


def _rollbacks(rollbacks: Rollbacks, origin: float, ended: float) -> Span | None:
    if rollbacks is None:
        return None
    started, done = rollbacks
    if done is None:
        return Span(start=round(started - origin, 3), end=round(ended - origin, 3), reason="not ended")
    return Span(start=round(started - origin, 3), end=round(done - origin, 3))


def _rpo_t0(faults: list[FaultEvent]) -> ledger.T0 | None:
    """Data loss is read against the first fault injected: a write acknowledged after the platform was first
    faulted and then lost is a split-brain loss, whichever later fault the outage is attributed to (reading
    it against a later fault would turn it into ordinary RPO loss and pass the split-brain gate)."""
    return next((ledger.T0(f.issued, f.confirmed) for f in faults if f.confirmed is not None), None)


def _session_rpo(writes: list[ledger.Write], stored: dict[str, set[int]] | None, faults: list[FaultEvent],
                 reconcile_error: str | None, lags: list[int], restoring: bool) -> Rpo | None:
    """The session ledger's RPO; in a restore drill it is vacuous (the rollback puts the deleted rows back, or
    the loss is only declared, so it reads 0 by construction): "not measured", the restores' RPO stands."""
    found = ledger.rpo(writes, stored, t0=_rpo_t0(faults), reconcile_error=reconcile_error, lags=lags)
    if found is None or not restoring:
        return found
    return found.model_copy(update={
        "status": "not measured", "seconds": None,
        "reason": "a restore drill's own ledger proves nothing: its rollback puts the rows back, or the loss is "
                  "only declared; the restored copy's RPO is this run's RPO"})


def _point(second: seconds.Second, threshold: float) -> SecondPoint:
    succeeded = sorted(s.latency for s in second.valid if s.succeeded)
    p95 = succeeded[math.ceil(0.95 * len(succeeded)) - 1] * 1000 if succeeded else None
    return SecondPoint(
        t=second.t, scheduled=second.scheduled, answered=second.concluded,
        ok=round(len(succeeded) / len(second.valid), 4) if second.valid else None,
        p95_ms=None if p95 is None else round(p95, 1), state=second.state,
    )
