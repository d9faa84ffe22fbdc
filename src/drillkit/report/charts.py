"""Inline SVG charts: no JavaScript, no network, readable in any browser and in a mail client.
The one chart module: a drill run's timeline and trend (from a Report's chart points) and a load
test's series; labels are placed so that no two of them overlap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from drillkit.model.measurements import Restore
from drillkit.model.report import Chart, HistoryEntry

WIDTH, HEIGHT, PAD, TOP = 760, 240, 44, 56
LATENCY_CAP_MS = 2000.0
CHAR_W, LINE_H = 6.0, 11.0   # at font-size 10px: a generous box per character and per line
STATE_CLASS = {"bad": "bad", "degraded": "degraded", "thin": "thin"}


@dataclass(frozen=True)
class Label:
    text: str
    x: float        # left edge
    y: float        # baseline
    anchor_x: float  # where the marker line is

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.x, self.y - LINE_H + 2, self.x + CHAR_W * len(self.text), self.y + 2

    def intersects(self, other: Label) -> bool:
        a, b = self.box, other.box
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(marks: Sequence[tuple[str, float]], left: float, right: float, top: float) -> list[Label]:
    """Each label on the highest row where it overlaps no label already placed, kept inside [left, right]."""
    placed: list[Label] = []
    for text, x in sorted(marks, key=lambda mark: mark[1]):
        start = min(max(left, x + 3), right - CHAR_W * len(text))
        row = 0
        while True:
            label = Label(text, start, top - 4 - row * LINE_H, x)
            if not any(label.intersects(other) for other in placed):
                break
            row += 1
        placed.append(label)
    return placed


def timeline_chart(chart: Chart) -> str:
    """Success share (green) and p95 latency (blue) per point; the fault window shaded, seconds when the
    instrument was degraded hatched grey, bad seconds red on the axis; T0, detect, promoted, first ok
    and stable marked."""
    if not chart.points:
        return '<p class="muted">no samples</p>'
    t_min = min(chart.points[0].t, 0.0 if chart.instants else chart.points[0].t)
    t_max = max(chart.points[-1].t + chart.points[-1].span_s, t_min + 1)

    def x(t: float) -> float:
        return PAD + (min(max(t, t_min), t_max) - t_min) / (t_max - t_min) * (WIDTH - 2 * PAD)

    def y(share: float) -> float:
        return HEIGHT - PAD - (HEIGHT - PAD - TOP) * share

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             'aria-label="success share and p95 latency over time">']
    parts += _shade(chart, x)
    parts += _axes(x, y, t_min, t_max)
    parts += _lines(chart, x, y)
    parts += _markers(chart, x)
    parts.append("</svg>")
    return "".join(parts)


def _shade(chart: Chart, x: Callable[[float], float]) -> list[str]:
    shapes = []
    if chart.fault_window is not None:
        left, right = x(chart.fault_window[0]), x(chart.fault_window[1])
        shapes.append(f'<rect class="fault" x="{left:.1f}" y="{TOP}" width="{max(right - left, 1):.1f}" '
                      f'height="{HEIGHT - PAD - TOP}"><title>from the fault to the end of the rollbacks</title></rect>')
    for start, end in chart.degraded:
        left, right = x(start), x(end)
        shapes.append(f'<rect class="degraded" x="{left:.1f}" y="{TOP}" width="{max(right - left, 1):.1f}" '
                      f'height="{HEIGHT - PAD - TOP}"><title>instrument degraded {start:+.1f} to {end:+.1f} s: '
                      'not evidence either way</title></rect>')
    for state, start, end in _stretches(chart):
        shapes.append(f'<rect class="{STATE_CLASS[state]}-second" x="{x(start):.1f}" y="{HEIGHT - PAD}" '
                      f'width="{max(x(end) - x(start), 1):.1f}" height="5"><title>{state} from {start:+.0f} to '
                      f'{end:+.0f} s</title></rect>')
    return shapes


def _stretches(chart: Chart) -> list[tuple[str, float, float]]:
    """Consecutive points in one bad, degraded or thin state, as one stretch each."""
    stretches: list[tuple[str, float, float]] = []
    for p in chart.points:
        if p.state not in STATE_CLASS:
            continue
        if stretches and stretches[-1][0] == p.state and abs(stretches[-1][2] - p.t) < 1e-6:
            stretches[-1] = (p.state, stretches[-1][1], p.t + p.span_s)
        else:
            stretches.append((p.state, p.t, p.t + p.span_s))
    return stretches


def _axes(x, y, t_min: float, t_max: float) -> list[str]:
    lines = _frame()
    for share in (0.0, 0.5, 1.0):
        lines.append(f'<text class="y-left" x="{PAD - 4}" y="{y(share) + 3:.1f}">{share:.0%}</text>')
        lines.append(f'<text class="y-right" x="{WIDTH - PAD + 4}" y="{y(share) + 3:.1f}">'
                     f'{share * LATENCY_CAP_MS:.0f} ms</text>')
    lines += _time_ticks(x, t_min, t_max, "seconds after T0")
    return lines


def _frame() -> list[str]:
    """The time axis and the two value axes."""
    return [f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"/>',
            f'<line class="axis" x1="{PAD}" y1="{TOP}" x2="{PAD}" y2="{HEIGHT - PAD}"/>',
            f'<line class="axis" x1="{WIDTH - PAD}" y1="{TOP}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"/>']


def _time_ticks(x: Callable[[float], float], t_min: float, t_max: float, title: str) -> list[str]:
    ticks = [f'<text class="tick" x="{x(tick):.1f}" y="{HEIGHT - PAD + 18}">{tick:+g} s</text>'
             for tick in _ticks(t_min, t_max)]
    return [*ticks, f'<text class="tick" x="{WIDTH / 2:.0f}" y="{HEIGHT - 6}">{escape(title)}</text>']


def _ticks(t_min: float, t_max: float) -> list[float]:
    span = t_max - t_min
    step = next((s for s in (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600) if span / s <= 8), 7200)
    first = int(t_min // step) * step
    return [float(t) for t in range(first, int(t_max) + 1, step) if t >= t_min]


def _lines(chart: Chart, x, y) -> list[str]:
    ok = [(x(p.t), y(p.ok)) for p in chart.points if p.ok is not None]
    latency = [(x(p.t), y(min(p.p95_ms, LATENCY_CAP_MS) / LATENCY_CAP_MS))
               for p in chart.points if p.p95_ms is not None]
    return [_polyline("ok", ok), _polyline("latency", latency)]


def _polyline(css: str, points: Sequence[tuple[float, float]], title: str = "") -> str:
    joined = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    if not title:
        return f'<polyline class="{css}" points="{joined}"/>'
    return f'<polyline class="{css}" points="{joined}"><title>{escape(title)}</title></polyline>'


def _markers(chart: Chart, x) -> list[str]:
    marks = [(f"{name} {at:+.1f} s", x(at)) for name, at in chart.instants.items()]
    svg = [f'<line class="marker" x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{HEIGHT - PAD}"/>' for _, px in marks]
    for label in place_labels(marks, 0, WIDTH, TOP):
        svg.append(f'<text class="marker-label" x="{label.x:.1f}" y="{label.y:.1f}">{escape(label.text)}</text>')
    return svg


PHASE_H, PHASE_BAR_Y, PHASE_BAR_H = 104, 52, 14


def restore_chart(restore: Restore) -> str:
    """One restore's phases on one bar from T0: each stretch between two phases shaded in turn, and each
    phase's own uncertainty (the bounds it was reached between) drawn dark over it, labelled above."""
    phases = [p for p in restore.phases if p.after_t0.upper is not None]
    if not phases:
        return '<p class="muted">no phase of this restore was observed</p>'
    end = max(max(p.after_t0.upper or 0.0 for p in phases), 1.0)

    def x(t: float) -> float:
        return PAD + min(max(t, 0.0), end) / end * (WIDTH - 2 * PAD)

    svg = [f'<svg class="restore" viewBox="0 0 {WIDTH} {PHASE_H}" role="img" '
           f'aria-label="phases of {escape(restore.activity)} after T0">',
           f'<line class="axis" x1="{PAD}" y1="{PHASE_BAR_Y + PHASE_BAR_H}" x2="{WIDTH - PAD}" '
           f'y2="{PHASE_BAR_Y + PHASE_BAR_H}"/>']
    start = 0.0
    for i, phase in enumerate(phases):
        lower, upper = phase.after_t0.lower, phase.after_t0.upper or phase.after_t0.lower
        svg.append(f'<rect class="stretch-{i % 2}" x="{x(start):.1f}" y="{PHASE_BAR_Y}" '
                   f'width="{max(x(lower) - x(start), 0):.1f}" height="{PHASE_BAR_H}"><title>until '
                   f'{escape(phase.name)}</title></rect>')
        svg.append(f'<rect class="phase-bounds" x="{x(lower):.1f}" y="{PHASE_BAR_Y - 3}" '
                   f'width="{max(x(upper) - x(lower), 2):.1f}" height="{PHASE_BAR_H + 6}"><title>{escape(phase.name)}: '
                   f'between {lower:.1f} and {upper:.1f} s after T0</title></rect>')
        start = upper
    marks = [(f"{p.name} {p.after_t0.upper:.0f} s", x(p.after_t0.lower)) for p in phases]
    for label in place_labels(marks, 0, WIDTH, PHASE_BAR_Y - 4):
        svg.append(f'<text class="phase-label" x="{label.x:.1f}" y="{label.y:.1f}">{escape(label.text)}</text>')
    svg += [f'<text class="tick" x="{x(tick):.1f}" y="{PHASE_H - 6}">{tick:+g} s</text>' for tick in _ticks(0.0, end)]
    svg.append("</svg>")
    return "".join(svg)


TREND_W, TREND_H, TREND_PAD = 360, 120, 40
TREND_SERIES = (("score", "platform score", ""), ("worst_rto_s", "worst failover RTO", " s"),
                ("worst_rpo_s", "worst failover RPO", " s"), ("worst_restore_rto_s", "worst restore RTO", " s"),
                ("worst_restore_rpo_s", "worst restore RPO", " s"))


def trend_chart(runs: Sequence[HistoryEntry]) -> str:
    """Score, worst RTO and worst RPO per run, oldest first: one small chart each, with axes and values."""
    if len(runs) < 2:
        return '<p class="muted">the trend starts with the next run of this drill</p>'
    return "".join(_trend_series(runs, field, title, unit) for field, title, unit in TREND_SERIES
                   if any(getattr(run, field) is not None for run in runs))


def _trend_series(runs: Sequence[HistoryEntry], field: str, title: str, unit: str) -> str:
    values = [getattr(run, field) for run in runs]
    known = [v for v in values if v is not None]
    top = 100.0 if field == "score" else max(known, default=1.0) or 1.0
    step = (TREND_W - 2 * TREND_PAD) / (len(runs) - 1)

    def y(v: float) -> float:
        return TREND_H - 24 - v / top * (TREND_H - 48)

    svg = [f'<svg class="trend" viewBox="0 0 {TREND_W} {TREND_H}" role="img" aria-label="{title} per run">',
           f'<text x="{TREND_PAD}" y="12">{escape(title)}</text>',
           f'<line class="axis" x1="{TREND_PAD}" y1="{TREND_H - 24}" x2="{TREND_W - TREND_PAD}" y2="{TREND_H - 24}"/>',
           f'<line class="axis" x1="{TREND_PAD}" y1="{y(top):.1f}" x2="{TREND_PAD}" y2="{TREND_H - 24}"/>',
           f'<text class="y-left" x="{TREND_PAD - 4}" y="{y(top) + 3:.1f}">{top:g}{unit}</text>',
           f'<text class="y-left" x="{TREND_PAD - 4}" y="{TREND_H - 21}">0</text>']
    points = [(TREND_PAD + i * step, y(v)) for i, v in enumerate(values) if v is not None]
    svg.append(_polyline("ok", points))
    placed: list[Label] = []
    for i, (run, value) in enumerate(zip(runs, values, strict=True)):
        px = TREND_PAD + i * step
        svg.append(f'<text class="tick" x="{px:.1f}" y="{TREND_H - 8}">{escape(run.quarter)}</text>')
        if value is None:  # not measured, or a fault that never recovered (no upper bound to draw)
            unbounded = field == "worst_rto_s" and run.worst_rto_unbounded
            svg.append(f'<text class="tick" x="{px:.1f}" y="{TREND_H - 30}">{"never" if unbounded else "n/m"}</text>')
            continue
        svg.append(f'<circle cx="{px:.1f}" cy="{y(value):.1f}" r="3"><title>{escape(run.started_utc[:10])}: '
                   f'{value:g}{unit}</title></circle>')
        label = _value_label(f"{value:g}{unit}", px, y(value), placed)
        placed.append(label)
        svg.append(f'<text class="value-label" x="{label.x:.1f}" y="{label.y:.1f}">{escape(label.text)}</text>')
    svg.append("</svg>")
    return "".join(svg)


def _value_label(text: str, px: float, py: float, placed: list[Label]) -> Label:
    """Above the point, else below it, else higher up: the first place that overlaps no other value."""
    left = px - CHAR_W * len(text) / 2
    for y in (py - 6, py + 14, py - 6 - LINE_H, py + 14 + LINE_H, py - 6 - 2 * LINE_H):
        label = Label(text, left, y, px)
        if not any(label.intersects(other) for other in placed):
            return label
    return Label(text, left, py - 6 - 3 * LINE_H, px)


@dataclass(frozen=True)
class Series:
    """One line of a series chart: its CSS class, its name, and (seconds from the start, value) points;
    a value of None is a second without one (no gap is drawn as zero)."""

    css: str
    name: str
    points: Sequence[tuple[float, float | None]]


def series_chart(lines: Sequence[Series], *, unit: str, marks: Sequence[tuple[float, str]] = ()) -> str:
    """LINES over seconds from the start, on one axis from 0 to their highest value (in UNIT); MARKS
    are (second, title) ticks on the time axis, for seconds with failures, say."""
    values = [v for line in lines for _, v in line.points if v is not None]
    if not values:
        return '<p class="muted">no data</p>'
    top = max(max(values), 1.0)
    span = max(max(t for line in lines for t, _ in line.points), 1.0)

    def x(t: float) -> float:
        return PAD + t / span * (WIDTH - 2 * PAD)

    def y(value: float) -> float:
        return HEIGHT - PAD - value / top * (HEIGHT - PAD - TOP)

    svg = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{escape(", ".join(line.name for line in lines))} over time">', *_frame(),
           f'<text class="y-left" x="{PAD - 4}" y="{y(top) + 3:.1f}">{top:.0f} {escape(unit)}</text>',
           f'<text class="y-left" x="{PAD - 4}" y="{y(0) + 3:.1f}">0</text>',
           *_time_ticks(x, 0.0, span, "seconds from the start")]
    svg += [_polyline(line.css, [(x(t), y(v)) for t, v in line.points if v is not None], line.name)
            for line in lines]
    svg += [f'<rect class="mark" x="{x(t):.1f}" y="{HEIGHT - PAD}" width="2" height="5"><title>{escape(title)}'
            '</title></rect>' for t, title in marks]
    svg.append("</svg>")
    return "".join(svg)
