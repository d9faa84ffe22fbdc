"""The rollbacks a fault log may name: the one vocabulary shared by the activities that log a fault
(each names its heal), and recovery, which maps every name back to its activity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, get_args

HealAction = Literal[
    "restore_database",
    "rejoin_replica",
    "restore_region",
    "heal_partition",
    "restart_app",
    "resume_app",
    "remove_http_faults",
    "stop_load",
    "undo_bad_migration",
    "remove_restored_copy",
]
HEAL_ACTIONS: frozenset[str] = frozenset(get_args(HealAction))


def heal_action_of(healer: Callable[..., Any]) -> HealAction:
    """The name HEALER is logged under: its own, which must be one recovery knows."""
    name = getattr(healer, "__name__", repr(healer))
    if name not in HEAL_ACTIONS:
        known = ", ".join(sorted(HEAL_ACTIONS))
        raise ValueError(f"{name!r} is not a rollback the fault log may name (known: {known})")
    return name  # type: ignore[return-value]  # checked against the Literal's values just above
