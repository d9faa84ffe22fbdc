"""Per-second states of one prober (the user path: the global write and its read-back).

Each request belongs to the second of its slot's intended time, counted from the session's origin.
Coverage is counted in slots (a write and its read-back are one slot; a read-back left out as sent late
by the instrument does not unjudge its slot), while the SLIs take every valid request of the second.
    degraded  the instrument did not send on schedule in that second (a late request, a gap)
    thin      fewer than min_coverage of the second's scheduled slots concluded on time (answer, error or
              timeout), and the verdict would change with what the missing ones might have been
    bad       enough observations, and the availability or latency SLI is below its objective
    good      enough observations, and both SLIs meet their objectives
Degraded and thin seconds are neither bad nor good: they say nothing about the platform.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from drillkit.measure.instrument import Checked, Stretch, degraded, scheduled_slots, slots
from drillkit.model.measurements import SecondState
from drillkit.model.objectives import Objectives


@dataclass(frozen=True)
class Judge:
    """What a second must show to be judged: coverage, and the SLIs' objectives."""

    min_coverage: float
    latency_threshold: float
    availability: float
    latency_target: float

    @classmethod
    def of(cls, objectives: Objectives, min_coverage: float) -> Judge:
        return cls(min_coverage, objectives.latency_threshold_ms / 1000, objectives.availability,
                   objectives.latency_target)


@dataclass
class Second:
    t: int                                   # seconds since origin
    scheduled: int = 0                       # slots the schedule called for
    concluded: int = 0                       # of them, concluded and sent on time
    valid: list = field(default_factory=list)  # Samples sent on time (the SLIs' requests)
    degraded: bool = False
    state: SecondState = "thin"

    def bad_requests(self, threshold: float) -> list:
        return [s for s in self.valid if not s.good(threshold)]

    def good_requests(self, threshold: float) -> list:
        return [s for s in self.valid if s.good(threshold)]


def seconds(
    rows: list[Checked], *, interval: float, origin: float, horizon: float, judge: Judge, start: float | None = None,
) -> list[Second]:
    """Judge every whole or partial second from START (default: origin) to HORIZON."""
    first_second = math.floor((origin if start is None else start) - origin)
    count = max(0, math.ceil(horizon - origin) - first_second)
    result = [Second(first_second + n) for n in range(count)]
    if not result:
        return result
    _schedule(result, rows, interval, origin, horizon)
    for row in rows:
        index = math.floor(row.sample.intended - origin) - first_second
        if 0 <= index < count and not row.late:
            result[index].valid.append(row.sample)
            result[index].concluded += row.sample.kind != "read_back"
    for stretch in degraded(rows, interval, horizon):
        _mark(result, stretch, origin, first_second)
    for second in result:
        second.state = _state(second, judge)
    return result


def _schedule(result: list[Second], rows: list[Checked], interval: float, origin: float, horizon: float) -> None:
    times = slots(c.sample for c in rows)
    if not times:
        return
    for second in result:
        begin = origin + second.t
        second.scheduled = scheduled_slots(times[0], interval, begin, min(begin + 1, horizon))


def _mark(result: list[Second], stretch: Stretch, origin: float, first_second: int) -> None:
    low = math.floor(stretch.start - origin) - first_second
    high = math.ceil(stretch.end - origin) - first_second
    for index in range(max(low, 0), min(high, len(result))):
        result[index].degraded = True


def _state(second: Second, judge: Judge) -> SecondState:
    if second.degraded:
        return "degraded"
    if not second.scheduled or not second.valid:
        return "thin"
    if second.concluded >= judge.min_coverage * second.scheduled:
        return "good" if _meets(second.valid, judge) else "bad"
    # Too few slots concluded to judge, unless the verdict holds whatever the missing ones were.
    per_slot = len(second.valid) / max(second.concluded, 1)
    missing = round(per_slot * (second.scheduled - second.concluded))
    if not _meets(second.valid, judge, missing_good=missing):
        return "bad"
    return "good" if _meets(second.valid, judge, missing_bad=missing) else "thin"


def _meets(valid: list, judge: Judge, missing_good: int = 0, missing_bad: int = 0) -> bool:
    requests = len(valid) + missing_good + missing_bad
    succeeded = sum(s.succeeded for s in valid) + missing_good
    fast = sum(s.good(judge.latency_threshold) for s in valid) + missing_good
    return succeeded / requests >= judge.availability and fast / requests >= judge.latency_target
