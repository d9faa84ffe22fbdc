"""Backup probes: what the backup server holds right now."""

from __future__ import annotations

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from drillkit.backup.barman import Barman
from drillkit.faults.boundary import activity
from drillkit.faults.environment import environment

__all__ = ["finished_backups"]


@activity
def finished_backups(configuration: Configuration = None, secrets: Secrets = None) -> int:
    """How many finished (DONE) backups the target's backup server lists."""
    settings = environment(configuration).target.backups
    if settings is None:
        raise ActivityFailed("the target has no backups: block")
    barman = Barman.of(settings)
    return sum(info.status == "DONE" for info in barman.list_backups())
