"""The instrument's own health, from its samples alone: how many requests each prober scheduled, sent
and got answered, how late they left, and where it did not send on schedule ("instrument degraded").

A request is late when it left more than one interval after it was due (a read-back is due when its
write was answered). A late request, or a send task that raised, says nothing about the platform:
it is excluded from every SLI. A gap in a prober's slots (every slot yields a row) means the
instrument stalled or died: that stretch is degraded, never an outage and never health.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass

from drillkit.measure.ledger import Write
from drillkit.measure.samples import INSTRUMENT_ERROR, Sample
from drillkit.model.measurements import ProberHealth

GAP_FACTOR = 1.5  # consecutive slots further apart than this many intervals leave a gap
ANSWERED_NOTES = ("http", "sqlstate")  # a ledger write the server answered with a refusal (HTTP or SQL)


@dataclass(frozen=True)
class Checked:
    """One sample with its send lag, judged against the prober's schedule."""

    sample: Sample
    lag: float | None   # seconds after it was due; None: never sent
    late: bool          # sent late, lost to the instrument, or held by its stall: excluded from every SLI
    held: bool = False  # sent on time, but answered while the instrument stalled


@dataclass(frozen=True)
class Stretch:
    start: float        # monotonic
    end: float
    reason: str


def checked(rows: list[Sample], interval: float) -> list[Checked]:
    """Every row of ONE prober with its lag against when it was due (a read-back is due, and recorded
    as intended, when its write answered)."""
    return [_judged(sample, sample.intended, interval) for sample in rows]


def with_stalls(rows: list[Checked], interval: float, horizon: float, threshold: float) -> list[Checked]:
    """ROWS with the requests in flight when the instrument stalled (sent before one of its own late
    sends or missing slots, answered during it or within an interval after it, as it caught up) marked
    late when the stall could have changed their verdict: their answers were read when the instrument
    woke up, so their latency is partly the instrument's. A request already slower than THRESHOLD when
    the stall began, a failure that was not a timeout, and a good answer keep their verdict: the stall
    cannot have made them so. The read-backs of writes held so are marked too."""
    stalls = degraded(rows, interval, horizon)
    if not stalls:
        return rows
    starts = [stall.start for stall in stalls]

    def held(sample: Sample) -> bool:
        index = bisect.bisect_right(starts, sample.completed) - 1
        if index < 0 or not (sample.left_at < stalls[index].start <= sample.completed
                             and sample.completed <= stalls[index].end + interval):
            return False
        return _verdict_could_flip(sample, stalls[index].start, threshold)

    return [Checked(c.sample, c.lag, True, held=True) if not c.late and held(c.sample) else c for c in rows]


def _verdict_could_flip(sample: Sample, stall_start: float, threshold: float) -> bool:
    if sample.good(threshold) or sample.error not in ("", "timeout"):
        return False
    return stall_start - sample.intended <= threshold  # not yet known slow when the instrument stalled


def _judged(sample: Sample, due: float, interval: float) -> Checked:
    lag = None if sample.sent is None else sample.sent - due
    return Checked(sample, lag, sample.error == INSTRUMENT_ERROR or (lag is not None and lag > interval))


def slots(rows: Iterable[Sample]) -> list[float]:
    """The scheduled slots a prober's rows show, counted by their writes (a read-back is due on its own)."""
    return sorted({s.intended for s in rows if s.kind != "read_back"})


def scheduled_slots(first: float, interval: float, start: float, end: float) -> int:
    """Slots of the grid first + k·interval (k ≥ 0) in [start, end)."""
    low = max(0, math.ceil((start - first) / interval - 1e-9))
    high = math.ceil((end - first) / interval - 1e-9)
    return max(0, high - low)


def degraded(rows: list[Checked], interval: float, horizon: float) -> list[Stretch]:
    """Where ONE prober did not send on schedule: late requests, gaps between slots, and silence
    from its last slot to HORIZON (the instant by which every slot's row must have been written)."""
    late = [_late_stretch(c, interval) for c in rows if c.late and not c.held]
    return merge(late + _gaps(slots(c.sample for c in rows), interval, horizon))


def _late_stretch(c: Checked, interval: float) -> Stretch:
    """From when the request was due (a read-back: when its write answered) to when it left."""
    if c.sample.sent is None or c.lag is None:
        return Stretch(c.sample.intended, c.sample.intended + interval, "late sends")
    return Stretch(c.sample.sent - c.lag, c.sample.sent, "late sends")


def writer_degraded(writes: list[Write], interval: float, horizon: float) -> list[Stretch]:
    """The same for ONE ledger writer: writes that left late or whose task died, and gaps."""
    late = [Stretch(w.intended, w.intended + max(interval, (w.sent or w.intended) - w.intended), "late writes")
            for w in writes if w.note == "task died" or (w.sent is not None and w.sent - w.intended > interval)]
    return merge(late + _gaps(sorted(w.intended for w in writes), interval, horizon))


def _gaps(times: list[float], interval: float, horizon: float) -> list[Stretch]:
    gaps = [Stretch(a + interval, b, "missing slots") for a, b in zip(times, times[1:], strict=False)
            if b - a > GAP_FACTOR * interval]
    if times and horizon - times[-1] > GAP_FACTOR * interval:
        gaps.append(Stretch(times[-1] + interval, horizon, "no samples"))
    return gaps


def merge(stretches: list[Stretch]) -> list[Stretch]:
    merged: list[Stretch] = []
    for item in sorted(stretches, key=lambda s: s.start):
        if merged and item.start <= merged[-1].end:
            last = merged[-1]
            reasons = last.reason if item.reason in last.reason.split(", ") else f"{last.reason}, {item.reason}"
            merged[-1] = Stretch(last.start, max(last.end, item.end), reasons)
        else:
            merged.append(item)
    return merged


def prober_health(name: str, rows: list[Checked], interval: float, ended: float) -> ProberHealth:
    times = slots(c.sample for c in rows)
    per_slot = 2 if any(c.sample.kind == "read_back" for c in rows) else 1
    scheduled = max(scheduled_slots(times[0], interval, times[0], ended), len(times)) * per_slot if times else 0
    lags = [c.lag for c in rows if c.lag is not None]
    return ProberHealth(
        name=name, interval_s=interval, scheduled=max(scheduled, len(rows)),
        sent=sum(c.sample.sent is not None for c in rows),
        answered=sum(c.sample.status != 0 for c in rows),
        send_errors=sum(c.sample.error == INSTRUMENT_ERROR for c in rows), **_lag_ms(lags),
    )


def writer_health(name: str, writes: list[Write], interval: float, ended: float) -> ProberHealth:
    times = sorted(w.intended for w in writes)
    lags = [w.sent - w.intended for w in writes if w.sent is not None]
    scheduled = max(scheduled_slots(times[0], interval, times[0], ended), len(times)) if times else 0
    return ProberHealth(
        name=f"ledger/{name}", interval_s=interval, scheduled=scheduled,
        sent=sum(w.sent is not None for w in writes),
        answered=sum(w.acknowledged or w.note.startswith(ANSWERED_NOTES) for w in writes),
        send_errors=sum(w.note == "task died" for w in writes), **_lag_ms(lags),
    )


def _lag_ms(lags: list[float]) -> dict[str, float | None]:
    if not lags:
        return {"lag_p50_ms": None, "lag_p99_ms": None, "lag_max_ms": None}
    ordered = sorted(lags)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)] * 1000, 3)

    return {"lag_p50_ms": rank(0.50), "lag_p99_ms": rank(0.99), "lag_max_ms": round(ordered[-1] * 1000, 3)}
