"""The recovery timeline of one experiment, from raw samples on one monotonic clock.

    T0         the fault's confirmed injection time (from the fault activity); with several faults,
               the last one injected before users noticed (isolating a replica is silent, the
               primary's crash that follows is not)
    T_detect   the first moment a user request is known bad: it failed, or outlived the latency
               objective
    T_promoted a new database leader, as observed by polling Patroni (at most one poll late)
    T_first_ok the first good answer after T_detect
    T_stable   the first good answer after which no bad answer arrives for a whole stable window

Answers are ordered by when they arrived, not when they were sent: a request held by a frozen
server and released at resume arrives at resume, which is when the service came back.
RTO = T_stable − T0, reported with [lower, upper] bounds: the service came back after the last bad
answer before T_stable and no more than one probe interval before it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from drillkit.measure.samples import Sample

FLAP_MIN_GOOD = 1.0  # seconds of good answers that count as "came back"


@dataclass(frozen=True)
class FaultEvent:
    name: str
    at: float  # monotonic


@dataclass(frozen=True)
class TimelineSettings:
    interval: float                  # seconds between probe requests
    stable_window: float = 10.0
    max_recovery: float = 300.0
    latency_threshold: float = 0.5


@dataclass(frozen=True)
class Rto:
    seconds: float | None  # midpoint of the bounds; None when unbounded
    lower: float | None
    upper: float | None    # None: no recovery within the maximum wait

    @property
    def bounded(self) -> bool:
        return self.upper is not None


@dataclass(frozen=True)
class Timeline:
    t0: float
    detect: float | None
    promoted: float | None
    first_ok: float | None
    stable: float | None
    flaps: int
    rto: Rto

    @property
    def impact(self) -> bool:
        return self.detect is not None

    def offsets(self) -> dict[str, float | None]:
        """Every instant as seconds after T0."""
        def after(instant: float | None) -> float | None:
            return None if instant is None else round(instant - self.t0, 3)

        return {"detect": after(self.detect), "promoted": after(self.promoted),
                "first_ok": after(self.first_ok), "stable": after(self.stable)}


def compute(
    samples: list[Sample], faults: list[FaultEvent], settings: TimelineSettings, observed_until: float,
    leaders: list[tuple[float, str]] | None = None,
) -> Timeline:
    """The timeline of SAMPLES (one endpoint) around FAULTS; LEADERS are (time, leader) observations."""
    if not faults:
        raise ValueError("a timeline needs at least one injected fault")
    answers = sorted(samples, key=lambda s: s.completed)
    good = [s.completed for s in answers if s.good(settings.latency_threshold)]
    bad = [s.completed for s in answers if not s.good(settings.latency_threshold)]
    first_fault = min(f.at for f in faults)
    detect = _detect(answers, first_fault, settings.latency_threshold)
    t0 = max((f.at for f in faults if detect is None or f.at <= detect), default=first_fault)
    promoted = _promoted(leaders or [], t0)
    if detect is None:
        return Timeline(t0, None, promoted, None, None, 0, Rto(0.0, 0.0, 0.0))
    first_ok = next((c for c in good if c > detect), None)
    deadline = min(observed_until - settings.stable_window, t0 + settings.max_recovery)
    stable = _stable(good, bad, detect, settings.stable_window, deadline)
    flaps = _flaps(answers, settings.latency_threshold, first_ok, stable or observed_until)
    return Timeline(t0, detect, promoted, first_ok, stable, flaps,
                    _rto(t0, stable, bad, settings.interval, observed_until))


def _detect(answers: list[Sample], since: float, threshold: float) -> float | None:
    known_bad = [s.intended + min(s.latency, threshold) for s in answers if not s.good(threshold)]
    return min((t for t in known_bad if t >= since), default=None)


def _stable(
    good: list[float], bad: list[float], after: float, window: float, deadline: float
) -> float | None:
    for answer in good[bisect.bisect_right(good, after):]:
        if answer > deadline:
            return None
        next_bad = bisect.bisect_right(bad, answer)
        if next_bad == len(bad) or bad[next_bad] > answer + window:
            return answer
    return None


def _flaps(answers: list[Sample], threshold: float, first_ok: float | None, until: float) -> int:
    """How often the service came back (answered well for at least FLAP_MIN_GOOD seconds) and fell
    over again before it was stable. Shorter good spells are noise inside one outage."""
    if first_ok is None:
        return 0
    flaps, good_since = 0, None
    for sample in answers:
        if not first_ok <= sample.completed < until:
            continue
        if sample.good(threshold):
            good_since = sample.completed if good_since is None else good_since
            continue
        if good_since is not None and sample.completed - good_since >= FLAP_MIN_GOOD:
            flaps += 1
        good_since = None
    return flaps


def _rto(t0: float, stable: float | None, bad: list[float], interval: float, observed_until: float) -> Rto:
    if stable is None:
        return Rto(None, round(observed_until - t0, 3), None)
    last_bad = bad[bisect.bisect_left(bad, stable) - 1] if bisect.bisect_left(bad, stable) else stable
    lower = max(t0, last_bad, stable - interval) - t0
    upper = stable - t0
    return Rto(round((lower + upper) / 2, 3), round(lower, 3), round(upper, 3))


def _promoted(leaders: list[tuple[float, str]], t0: float) -> float | None:
    before = [name for at, name in leaders if at <= t0 and name]
    previous = before[-1] if before else None
    return next((at for at, name in leaders if at > t0 and name and name != previous), None)
