"""Incidents: sustained badness on the user path, whoever caused it, and when each one recovered.

An incident begins with a stretch of seconds containing no good second and at least sustain_s bad
ones (one slow answer or one lone error is never an incident). It ends at the first stable window
after it: stable_window_s consecutive good seconds. Recovery R is known only between two
observations:
    R_lower  the send time of the last request observed bad before the window: a bad request sent
             at s proves the service was bad at some instant at or after s;
    R_upper  the answer time of the first good request sent after it: a good answer at c proves the
             service was back by c.
A gap in observations therefore widens [R_lower, R_upper]; nothing clamps it.

Seconds inside an incident (from its first bad second to its last) that the instrument could not judge
(degraded or thin) are charged as bad: the outage's RTO spans them, and leaving them out would make the same
outage cheaper whenever the instrument stalled in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drillkit.measure.seconds import Second


@dataclass(frozen=True)
class Found:
    """One incident on the monotonic clock (seconds are indices into the judged seconds)."""

    detect: float                  # T_detect: when its first bad request was known bad
    first_second: int              # its first bad second (seconds since origin)
    stable_second: int | None      # the first second of its stable window; None: not recovered
    recovery_lower: float          # R_lower
    recovery_upper: float | None   # R_upper = T_stable; None: not recovered
    first_ok: float | None         # first good answer after T_detect
    bad_requests: int
    failed: int                    # bad requests that failed (not merely slow)
    bad_seconds: int               # judged bad, plus the unobserved ones inside the incident
    unobserved_seconds: int        # not judged (degraded or thin) between its first and last bad second
    flaps: int                     # came back for at least a second, then bad again


def find(seconds: list[Second], *, threshold: float, sustain_s: float, stable_window_s: float) -> list[Found]:
    """Every incident in SECONDS (consecutive, from one prober)."""
    sustain, window = max(1, math.ceil(sustain_s - 1e-9)), max(1, math.ceil(stable_window_s - 1e-9))
    found, index = [], 0
    while index < len(seconds):
        start = _next_sustained(seconds, index, sustain)
        if start is None:
            break
        stable = _stable(seconds, start, window)
        found.append(_incident(seconds, start, stable, window, threshold))
        if stable is None:
            break
        index = stable
    return found


def _next_sustained(seconds: list[Second], index: int, sustain: int) -> int | None:
    """The first bad second, from INDEX on, of a stretch with no good second and SUSTAIN bad ones."""
    while index < len(seconds):
        if seconds[index].state != "bad":
            index += 1
            continue
        end = index
        while end < len(seconds) and seconds[end].state != "good":
            end += 1
        if sum(s.state == "bad" for s in seconds[index:end]) >= sustain:
            return index
        index = end
    return None


def _stable(seconds: list[Second], start: int, window: int) -> int | None:
    run = 0
    for index in range(start, len(seconds)):
        run = run + 1 if seconds[index].state == "good" else 0
        if run == window:
            return index - window + 1
    return None


def _incident(seconds: list[Second], start: int, stable: int | None, window: int, threshold: float) -> Found:
    during = seconds[start:stable]
    bad = [s for second in during for s in second.bad_requests(threshold)]
    detect = min(min(s.completed, s.intended + threshold) for s in bad)
    lower = max(s.left_at for s in bad)
    after = seconds[start:len(seconds) if stable is None else stable + window]
    good = [s for second in after for s in second.good_requests(threshold)]
    upper = None if stable is None else min(s.completed for s in good if s.left_at >= lower)
    first_ok = min((s.completed for s in good if s.completed > detect), default=None)
    unobserved = _unobserved(during)
    return Found(
        detect=detect, first_second=seconds[start].t, stable_second=None if stable is None else seconds[stable].t,
        recovery_lower=lower, recovery_upper=upper, first_ok=first_ok, bad_requests=len(bad),
        failed=sum(not s.succeeded for s in bad), bad_seconds=sum(s.state == "bad" for s in during) + unobserved,
        unobserved_seconds=unobserved, flaps=_flaps(during),
    )


def _unobserved(during: list[Second]) -> int:
    """Seconds up to the last bad one that were neither good nor bad."""
    last_bad = max(index for index, second in enumerate(during) if second.state == "bad")
    return sum(second.state in ("degraded", "thin") for second in during[:last_bad])


def _flaps(during: list[Second]) -> int:
    flaps, seen_good = 0, False
    for second in during:
        if second.state == "good":
            seen_good = True
        elif second.state == "bad" and seen_good:
            flaps, seen_good = flaps + 1, False
    return flaps
