"""One monotonic clock per process, anchored once to UTC.

Durations are always differences of monotonic readings; UTC is derived from the anchor, so a wall-clock
step (NTP, a VM pause) never bends a measured RTO.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Read together, once, at import: the anchor every UTC time in this process is derived from.
_ANCHOR_MONOTONIC = time.monotonic()
_ANCHOR_UTC = datetime.now(UTC)


@dataclass(frozen=True)
class Instant:
    monotonic: float  # seconds on this process's monotonic clock

    @property
    def utc(self) -> datetime:
        return utc_of(self.monotonic)

    def as_dict(self) -> dict[str, float | str]:
        return {"utc": self.utc.isoformat(), "monotonic": self.monotonic}


def now() -> Instant:
    return Instant(time.monotonic())


def utc_of(monotonic: float) -> datetime:
    return _ANCHOR_UTC + timedelta(seconds=monotonic - _ANCHOR_MONOTONIC)


def anchor() -> dict[str, float | str]:
    """The anchor itself, stored with measurements so other processes can line up with them."""
    return {"utc": _ANCHOR_UTC.isoformat(), "monotonic": _ANCHOR_MONOTONIC}
