"""One monotonic clock per process, anchored once to UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from drillkit import clock


def test_utc_times_derive_from_the_monotonic_clock_and_the_anchor():
    anchor = clock.anchor()
    later = clock.utc_of(anchor["monotonic"] + 90)
    assert later - datetime.fromisoformat(anchor["utc"]) == timedelta(seconds=90)


def test_now_is_close_to_the_wall_clock():
    assert abs(clock.now().utc - datetime.now(UTC)) < timedelta(seconds=1)


def test_instants_keep_order_and_differences_of_the_monotonic_clock():
    first = clock.now()
    time.sleep(0.01)
    second = clock.now()
    assert second.monotonic - first.monotonic >= 0.01
    elapsed_utc = (second.utc - first.utc).total_seconds()
    assert abs(elapsed_utc - (second.monotonic - first.monotonic)) < 1e-5
    assert set(first.as_dict()) == {"utc", "monotonic"}
