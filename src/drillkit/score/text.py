"""How figures read in sentences: one place, so the report and its findings say numbers alike."""

from __future__ import annotations

from drillkit.model.measurements import Bounds


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 3600:
        return f"{value / 3600:.2g} h"
    return f"{value:.1f} s"


def share(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


def bounds(rto: Bounds | None) -> str:
    """An RTO as what was observed: its bounds, never a midpoint nobody observed."""
    if rto is None:
        return "—"
    if rto.upper is None:
        return f"≥ {rto.lower:.1f} s (not recovered)"
    return f"[{rto.lower:.1f}, {rto.upper:.1f}] s"


def timeout(ms: float | None, timeout_ms: float | None) -> str:
    """A latency; one at or over the request timeout is shown as "≥ timeout", never as a latency."""
    if ms is None:
        return "—"
    if timeout_ms is not None and ms >= timeout_ms:
        return f"≥ {timeout_ms / 1000:g} s"
    return f"{ms:.0f} ms"
