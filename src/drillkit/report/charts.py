"""Inline SVG charts: no JavaScript, no network, readable in any browser and in a mail client."""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 720, 220, 40
LATENCY_CAP_MS = 2000.0


def timeline_chart(series: list[dict[str, Any]], timeline: dict[str, Any] | None) -> str:
    """Success rate (green) and p95 latency (blue) per second, the fault window shaded, and the
    instants T0, T_detect, T_promoted and T_stable marked."""
    if not series:
        return '<p class="muted">no samples</p>'
    t_min, t_max = series[0]["t"], max(series[-1]["t"], series[0]["t"] + 1)

    def x(t: float) -> float:
        return PAD + (t - t_min) / (t_max - t_min) * (WIDTH - 2 * PAD)

    def y(share: float) -> float:
        return HEIGHT - PAD + (PAD * 2 - HEIGHT) * share

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="success rate and p95 latency over time">']
    parts += _fault_window(timeline, x, t_min, t_max)
    parts += _axes(x, y, t_min, t_max)
    ok = " ".join(f"{x(p['t']):.1f},{y(p['ok']):.1f}" for p in series)
    latency = " ".join(f"{x(p['t']):.1f},{y(min(p['p95_ms'], LATENCY_CAP_MS) / LATENCY_CAP_MS):.1f}"
                       for p in series)
    parts.append(f'<polyline class="ok" points="{ok}"/>')
    parts.append(f'<polyline class="latency" points="{latency}"/>')
    parts += _markers(timeline, x, t_min, t_max)
    parts.append("</svg>")
    return "".join(parts)


def _fault_window(timeline: dict[str, Any] | None, x, t_min: float, t_max: float) -> list[str]:
    if not timeline:
        return []
    end = timeline.get("rollbacks_done") or timeline.get("stable") or t_max
    left, right = x(max(0, t_min)), x(min(end, t_max))
    return [f'<rect class="fault" x="{left:.1f}" y="{PAD}" width="{max(right - left, 1):.1f}" '
            f'height="{HEIGHT - 2 * PAD}"><title>fault until rollbacks were done</title></rect>']


def _axes(x, y, t_min: float, t_max: float) -> list[str]:
    lines = [f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"/>',
             f'<line class="axis" x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}"/>',
             f'<text x="4" y="{y(1) + 4:.1f}">100%</text>', f'<text x="4" y="{y(0) + 4:.1f}">0%</text>',
             f'<text x="{WIDTH - PAD + 4}" y="{y(1) + 4:.1f}">{LATENCY_CAP_MS:.0f} ms</text>']
    step = max(10, round((t_max - t_min) / 6 / 10) * 10)
    tick = (int(t_min) // step) * step
    while tick <= t_max:
        if tick >= t_min:
            lines.append(f'<text class="tick" x="{x(tick):.1f}" y="{HEIGHT - PAD + 16}">{tick:+d} s</text>')
        tick += step
    return lines


def _markers(timeline: dict[str, Any] | None, x, t_min: float, t_max: float) -> list[str]:
    if not timeline:
        return []
    marks = [("T0", 0.0), ("detect", timeline.get("detect")), ("promoted", timeline.get("promoted")),
             ("stable", timeline.get("stable"))]
    svg = []
    for row, (name, at) in enumerate(marks):
        if at is None or not t_min <= at <= t_max:
            continue
        svg.append(f'<line class="marker" x1="{x(at):.1f}" y1="{PAD}" x2="{x(at):.1f}" y2="{HEIGHT - PAD}"/>')
        label_y = PAD - 4 - 10 * (row % 2)  # alternate heights so close instants stay legible
        svg.append(f'<text class="marker-label" x="{x(at) + 3:.1f}" y="{label_y}">'
                   f'{escape(name)} {at:+.1f} s</text>')
    return svg


def trend_chart(runs: list[dict[str, Any]]) -> str:
    """Score per run, oldest first."""
    if len(runs) < 2:
        return '<p class="muted">the trend starts with the next run of this drill</p>'
    width, height = 360, 120
    step = (width - 2 * PAD) / (len(runs) - 1)
    points = [(PAD + i * step, height - 20 - (run["score"] / 100) * (height - 40))
              for i, run in enumerate(runs)]
    svg = [f'<svg class="trend" viewBox="0 0 {width} {height}" role="img" aria-label="score trend">',
           f'<polyline class="ok" points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in points)}"/>']
    for (px, py), run in zip(points, runs, strict=True):
        svg.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3"><title>{escape(run["quarter"])}: '
                   f'{run["score"]} ({escape(run["grade"])})</title></circle>')
        svg.append(f'<text class="tick" x="{px:.1f}" y="{height - 4}">{escape(run["quarter"])}</text>')
    svg.append("</svg>")
    return "".join(svg)
