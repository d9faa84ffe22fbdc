"""Heal what is still open in a target's fault log: after a run was killed, say, with SIGKILL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from chaoslib.exceptions import ActivityFailed

from drillkit.faults.app import actions as app
from drillkit.faults.database import actions as database
from drillkit.faults.environment import TARGET_KEY
from drillkit.faults.load import actions as load
from drillkit.faults.log import FaultLog, OpenFault
from drillkit.faults.region import actions as region

# Each rollback a fault log may name, by the name it is logged under.
HEALERS: MappingProxyType[str, Callable[..., dict]] = MappingProxyType({
    "restore_database": database.restore_database,
    "rejoin_replica": database.rejoin_replica,
    "restore_region": region.restore_region,
    "heal_partition": region.heal_partition,
    "restart_app": app.restart_app,
    "resume_app": app.resume_app,
    "remove_http_faults": app.remove_http_faults,
    "stop_load": load.stop_load,
})


@dataclass(frozen=True)
class Outcome:
    fault: OpenFault
    error: str | None = None

    @property
    def healed(self) -> bool:
        return self.error is None


def recover(target_file: Path, fault_log: FaultLog) -> Iterator[Outcome]:
    """Heal every open fault, newest first (the reverse of injection), one outcome each."""
    configuration = {TARGET_KEY: str(target_file)}
    for fault in reversed(fault_log.open_faults()):
        if not any(f.id == fault.id for f in fault_log.open_faults()):
            continue  # an earlier heal in this loop repaired it too
        yield _heal(fault, configuration)


def _heal(fault: OpenFault, configuration: dict) -> Outcome:
    healer = HEALERS.get(fault.heal_action)
    if healer is None:
        return Outcome(fault, f"no rollback named {fault.heal_action!r}")
    try:
        healer(**fault.heal_args, configuration=configuration)
    except ActivityFailed as exc:
        return Outcome(fault, str(exc))
    return Outcome(fault)
