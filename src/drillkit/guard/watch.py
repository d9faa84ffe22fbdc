"""The watch: while faults are in place, every stop condition is evaluated every `every_s` seconds, each
in a thread of its own (a command or a Prometheus query that takes its whole timeout never holds back
another condition, and its cadence does not drift with how long it took); the first that fires (or cannot
be evaluated, unless it says `on_error: ignore`) is recorded and ON_FIRE is called once (the runner
interrupts the method there, keeping the rollbacks).

The watch runs from the start of the method (the first fault action) until the rollbacks begin: a
condition must never cut the rollbacks short. Before the run, `check_before_faults` evaluates every
condition that needs no live measurement once, so that an unreachable Prometheus stops the run before
anything is injected."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal

from drillkit import redaction
from drillkit.clock import utc_of
from drillkit.guard.kinds import LIVE_KINDS, Sources, Unevaluable, evaluate
from drillkit.model.stop import StopCondition, StopFiring

logger = logging.getLogger("drillkit")
CLOSE_WAIT_S = 1.0  # how long closing waits for evaluations under way: their readings are dropped anyway


class Watch:
    def __init__(self, conditions: Sequence[StopCondition], sources: Sources, *,
                 on_fire: Callable[[StopFiring], None], origin: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conditions = tuple(conditions)
        self.sources = sources
        self.on_fire = on_fire
        self.origin = origin  # the measurement's origin, for the firing's place on the run's axis
        self.clock = clock
        self.fired: StopFiring | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ignored: set[str] = set()

    def check_before_faults(self) -> StopFiring | None:
        """Each condition that needs no live measurement, evaluated once: the first that fires or cannot
        be evaluated (unless it ignores errors), or None."""
        for condition in self.conditions:
            if isinstance(condition, LIVE_KINDS):
                continue
            firing = self._evaluate(condition, before_faults=True)
            if firing is not None:
                return firing
        return None

    def start(self, sources: Sources | None = None, origin: float | None = None) -> None:
        """Evaluate in the background from now on (SOURCES and ORIGIN: the live measurement, once it runs)."""
        if self._threads or not self.conditions:
            return
        self.sources = sources or self.sources
        self.origin = origin if origin is not None else self.origin
        self._threads = [threading.Thread(target=self._loop, args=(condition,), daemon=True,
                                          name=f"drillkit-stop-{condition.name}") for condition in self.conditions]
        for thread in self._threads:
            thread.start()

    def close(self) -> StopFiring | None:
        """Stop evaluating (no firing after this returns, whatever an evaluation under way then reads: the
        rollbacks never wait for it); the firing, if one came first."""
        with self._lock:
            self._closed.set()
        deadline = time.monotonic() + CLOSE_WAIT_S
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return self.fired

    def _loop(self, condition: StopCondition) -> None:
        due = self.clock()
        while not self._closed.is_set():
            firing = self._evaluate(condition)
            if firing is not None:
                self._fire(firing)
                return
            due = max(due + condition.every_s, self.clock())  # on the cadence; late: at once, never a burst
            self._closed.wait(max(0.0, due - self.clock()))

    def _evaluate(self, condition: StopCondition, before_faults: bool = False) -> StopFiring | None:
        at = self.clock()
        try:
            reading = evaluate(condition, self.sources, at)
        except Unevaluable as exc:
            if condition.on_error == "ignore":
                self._say_ignored(condition, str(exc))
                return None
            return self._firing(condition, "unevaluable", str(exc), at, before_faults)
        except Exception as exc:  # noqa: BLE001 - a bug in an evaluator must not pass for a quiet condition
            if condition.on_error == "ignore":
                self._say_ignored(condition, f"{type(exc).__name__}: {exc}")
                return None
            return self._firing(condition, "unevaluable", f"{type(exc).__name__}: {exc}", at, before_faults)
        return self._firing(condition, "fired", reading.value, at, before_faults) if reading.fired else None

    def _firing(self, condition: StopCondition, reason: Literal["fired", "unevaluable"], value: str, at: float,
                before_faults: bool) -> StopFiring:
        return StopFiring(name=condition.name, kind=condition.kind, reason=reason,
                          value=redaction.redact(value),  # printed and sent to the webhook as it is
                          at_utc=utc_of(at).isoformat(), at_monotonic=at,
                          at_s=None if self.origin is None else round(at - self.origin, 3),
                          before_faults=before_faults)

    def _fire(self, firing: StopFiring) -> None:
        with self._lock:
            if self._closed.is_set():
                return  # the rollbacks have begun: nothing to stop any more
            self.fired = firing
            self._closed.set()
            logger.error("%s", firing.describe())
            self.on_fire(firing)

    def _say_ignored(self, condition: StopCondition, why: str) -> None:
        if condition.name not in self._ignored:
            self._ignored.add(condition.name)
            logger.warning("stop condition %s cannot be evaluated (%s); it says on_error: ignore, the run goes on",
                           condition.name, why)

