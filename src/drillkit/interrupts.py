"""Ctrl-C and SIGTERM held back while something must not be cut in half (measurements being saved,
faults being healed): each signal is noted, and the caller decides what it means once done.

A Python signal handler always runs in the main thread, whichever thread the kernel delivered the
signal to, so replacing the handler (not masking the signal, which other threads would still take)
is what holds it. Outside the main thread nothing can be held: the block runs as it is.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def held() -> Iterator[list[int]]:
    """The signals that arrived during the block (empty: none did); they are not raised."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def note(signum: int, frame: Any) -> None:
        caught.append(signum)

    previous = {signum: signal.signal(signum, note) for signum in SIGNALS}
    try:
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Patient:
    """Between begin() and end(), the first Ctrl-C or SIGTERM is noted and said (SAY), not raised: what
    runs finishes first. A second one raises INTERRUPT(), to cut it short. Main thread only."""

    def __init__(self, say: Any, interrupt: Any) -> None:
        self.say = say
        self.interrupt = interrupt
        self.noted = False
        self._previous: dict[int, Any] = {}

    def begin(self) -> None:
        if threading.current_thread() is threading.main_thread() and not self._previous:
            self._previous = {signum: signal.signal(signum, self._note) for signum in SIGNALS}

    def end(self) -> bool:
        """Restore the handlers; whether a signal was noted."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        return self.noted

    def _note(self, signum: int, frame: Any) -> None:
        if self.noted:
            self.end()
            raise self.interrupt()
        self.noted = True
        self.say(signal.Signals(signum).name)
