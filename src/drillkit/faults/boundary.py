"""The activities' boundary: whatever goes wrong inside an activity leaves it as Chaos Toolkit's
ActivityFailed with a sentence, so that a run's rollbacks and `drillkit recover` can tell a failed
activity from a broken one by one exception type, and the cause stays chained (`raise ... from`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from chaoslib.exceptions import ActivityFailed, ChaosException

P = ParamSpec("P")
R = TypeVar("R")


def activity(func: Callable[P, R]) -> Callable[P, R]:
    """Mark FUNC as an activity: its errors cross the boundary as ActivityFailed. The signature is kept
    (chaoslib injects `configuration` and `secrets` by reading it)."""

    @functools.wraps(func)
    def at_the_boundary(*args: P.args, **kwargs: P.kwargs) -> R:
        with translated():
            return func(*args, **kwargs)

    at_the_boundary.drillkit_boundary = True  # type: ignore[attr-defined]  # a mark the contract test reads
    return at_the_boundary


def is_activity(func: Any) -> bool:
    return getattr(func, "drillkit_boundary", False) is True


def guarded(action: Callable[[], R]) -> R:
    """Carry out ACTION, its errors translated."""
    with translated():
        return action()


@contextmanager
def translated() -> Iterator[None]:
    """Chaos Toolkit's own exceptions pass as they are (an interruption must stay one); every other
    error, drillkit's, a library's or a plain bug, becomes ActivityFailed naming it."""
    try:
        yield
    except ChaosException:
        raise
    except Exception as exc:
        raise ActivityFailed(sentence(exc)) from exc


def sentence(exc: Exception) -> str:
    """`KeyError: target 'sandbox' has no region 'x'`: the error's type, then its own words (a
    KeyError's message unquoted)."""
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    return f"{type(exc).__name__}: {message}"
