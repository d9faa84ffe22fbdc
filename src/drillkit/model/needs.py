"""What each drillkit activity needs beyond a reachable target, read from the experiment documents:
preflight checks the needs, and a drill records as not run an experiment its target cannot serve."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drillkit.model.target import Target

# What each drillkit fault needs beyond a reachable target. Network faults add packet-drop rules.
NETWORK = "network"
SIGNALS = "signals"
BACKUPS = "backups"  # the target's backup server, and the database DSN its restores write through
MEASURE = "measure"  # the measure control: with a DSN ledger, its database must take the ledger's table
MEASURE_CONTROL = "drillkit.controls.measure"
NEEDS: dict[str, str] = {
    "drillkit.faults.backup.actions.bad_migration": BACKUPS,
    "drillkit.faults.backup.actions.undo_bad_migration": BACKUPS,
    "drillkit.faults.backup.actions.restore_point_in_time": BACKUPS,
    "drillkit.faults.backup.actions.restore_from_backups": BACKUPS,
    "drillkit.faults.backup.actions.remove_restored_copy": BACKUPS,
    "drillkit.faults.backup.probes.finished_backups": BACKUPS,
    "drillkit.faults.region.actions.partition_region": NETWORK,
    "drillkit.faults.region.actions.heal_partition": NETWORK,
    "drillkit.faults.database.actions.isolate_replica": NETWORK,
    "drillkit.faults.database.actions.rejoin_replica": NETWORK,
    "drillkit.faults.region.actions.fail_region": SIGNALS,
    "drillkit.faults.database.actions.kill_primary": SIGNALS,
    "drillkit.faults.database.actions.stop_primary": SIGNALS,
    "drillkit.faults.app.actions.kill_app": SIGNALS,
    "drillkit.faults.app.actions.pause_app": SIGNALS,
    "drillkit.faults.app.actions.resume_app": SIGNALS,
}


def needs_of(experiments: Iterable[dict[str, Any]]) -> set[str]:
    """The capabilities (NETWORK, SIGNALS) the experiments' drillkit activities need."""
    needs = set()
    for experiment in experiments:
        for activity in activities(experiment):
            provider = activity.get("provider") or {}
            if provider.get("type") == "python":
                need = NEEDS.get(f"{provider.get('module')}.{provider.get('func')}")
                needs |= {need} if need else set()
        controls = [c.get("provider") or {} for c in experiment.get("controls") or [] if isinstance(c, dict)]
        needs |= {MEASURE} if any(p.get("module") == MEASURE_CONTROL for p in controls) else set()
    return needs


def lacking(target: Target, experiment: dict[str, Any]) -> str | None:
    """Why TARGET cannot run EXPERIMENT at all (a drill then records it as not run, which earns nothing);
    None when it can."""
    if BACKUPS in needs_of([experiment]) and target.backups is None:
        return f"it restores backups and target {target.name!r} has no backup server (no backups: block)"
    return None


def activities(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    sections: list[Any] = [hypothesis.get("probes") or [], experiment.get("method") or [],
                           experiment.get("rollbacks") or []]
    return [activity for section in sections for activity in section if isinstance(activity, dict)]
