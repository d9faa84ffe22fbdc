"""Chart data for one run: the per-second series downsampled to at most MAX_POINTS buckets, each
keeping the worst of its seconds (lowest success share, highest p95, worst state), so a short
outage never vanishes into an average. Times are shifted to the headline fault's T0."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from drillkit.model.measurements import Measurements, SecondPoint
from drillkit.model.report import Chart, ChartPoint

MAX_POINTS = 600
WORST = {"good": 0, "thin": 1, "degraded": 2, "bad": 3}


def chart(m: Measurements) -> Chart:
    headline = m.headline()
    t0 = headline.fault.confirmed if headline and headline.fault.confirmed is not None else 0.0
    size = max(1, math.ceil(len(m.series) / MAX_POINTS))
    points = [_bucket(m.series[i:i + size], t0) for i in range(0, len(m.series), size)]
    degraded = [(round(s.start - t0, 3), round(s.end - t0, 3)) for s in m.instrument.degraded]
    instants, window = {}, None
    if headline is not None and headline.fault.confirmed is not None:
        instants = {name: at for name, at in (
            ("T0", 0.0), ("detect", headline.detect_after_t0), ("promoted", headline.promoted_after_t0),
            ("first ok", headline.first_ok_after_t0), ("stable", headline.stable_after_t0)) if at is not None}
        end = headline.rollbacks_ended_after_t0 or headline.stable_after_t0
        window = (0.0, end) if end is not None else (0.0, points[-1].t + points[-1].span_s if points else 0.0)
    return Chart(points=points, raw_seconds=len(m.series), t0_utc=_utc(m.origin_utc, t0), fault_window=window,
                 degraded=degraded, instants=instants)


def _bucket(seconds: list[SecondPoint], t0: float) -> ChartPoint:
    oks = [p.ok for p in seconds if p.ok is not None]
    p95s = [p.p95_ms for p in seconds if p.p95_ms is not None]
    return ChartPoint(t=round(seconds[0].t - t0, 3), span_s=float(len(seconds)),
                      ok=min(oks) if oks else None, p95_ms=max(p95s) if p95s else None,
                      state=max((p.state for p in seconds), key=WORST.__getitem__))


def _utc(origin_utc: str, offset_s: float) -> str:
    try:
        return (datetime.fromisoformat(origin_utc) + timedelta(seconds=offset_s)).isoformat()
    except ValueError:
        return ""
