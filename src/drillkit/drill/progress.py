"""Live progress of a drill: one line per phase, with the elapsed time and the live SLIs of the
global endpoint, readable in a terminal and in a CI log alike."""

from __future__ import annotations

import time
from typing import Any

from chaoslib.run import RunEventHandler
from rich.console import Console

from drillkit.controls import measure


class DrillProgress:
    def __init__(self, console: Console, total_expected_s: float) -> None:
        self.console = console
        self.started = time.monotonic()
        self.total_expected_s = total_expected_s
        self.experiment = "baseline"

    def say(self, phase: str) -> None:
        elapsed = time.monotonic() - self.started
        self.console.print(
            f"[dim]{_clock(elapsed)} / ~{_clock(self.total_expected_s)}[/] "
            f"[bold]{self.experiment}[/] {phase}{_live()}", highlight=False, soft_wrap=True,
        )

    def handler(self) -> RunEventHandler:
        return _PhaseReporter(self)


def _live() -> str:
    session = measure.live()
    if session is None:
        return ""
    now = session.recent(10)
    if not now["requests"]:
        return ""
    return f"  [dim](last 10 s: {now['availability']:.1%} ok, p95 {now['p95_ms']:.0f} ms)[/]"


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


class _PhaseReporter(RunEventHandler):
    def __init__(self, progress: DrillProgress) -> None:
        self.progress = progress

    def start_hypothesis_before(self, experiment: Any) -> None:
        self.progress.say("steady state before")

    def start_method(self, experiment: Any) -> None:
        self.progress.say("method")

    def start_activity(self, activity: Any) -> None:
        self.progress.say(f"  {activity.get('type', 'activity')}: {activity.get('name')}")

    def start_hypothesis_after(self, experiment: Any) -> None:
        self.progress.say("steady state after")

    def start_rollbacks(self, experiment: Any) -> None:
        self.progress.say("rollbacks, then measuring until stable")

    def finish(self, journal: Any) -> None:
        self.progress.say(f"done: {journal.get('status')}{' (deviated)' if journal.get('deviated') else ''}")
