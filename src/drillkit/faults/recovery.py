"""Heal what is still open in a target's fault log: after a run was killed, say, with SIGKILL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from chaoslib.exceptions import ActivityFailed

from drillkit.faultlog import FaultLog, OpenFault
from drillkit.faults.app import actions as app
from drillkit.faults.backup import actions as backup
from drillkit.faults.database import actions as database
from drillkit.faults.environment import RUN_ID_KEY, TARGET_KEY, plan_configuration
from drillkit.faults.load import actions as load
from drillkit.faults.region import actions as region
from drillkit.model.target import Target

# Each rollback a fault log may name (heal_actions.HealAction, a test holds the two equal), mapped to its activity.
HEALERS: Mapping[str, Callable[..., dict]] = MappingProxyType({
    "restore_database": database.restore_database,
    "rejoin_replica": database.rejoin_replica,
    "restore_region": region.restore_region,
    "heal_partition": region.heal_partition,
    "restart_app": app.restart_app,
    "resume_app": app.resume_app,
    "remove_http_faults": app.remove_http_faults,
    "stop_load": load.stop_load,
    "undo_bad_migration": backup.undo_bad_migration,
    "remove_restored_copy": backup.remove_restored_copy,
})


@dataclass(frozen=True)
class Outcome:
    fault: OpenFault
    error: str | None = None

    @property
    def healed(self) -> bool:
        return self.error is None


def recover(
    target_file: Path, fault_log: FaultLog, run_id: str | None = None, target: Target | None = None,
) -> Iterator[Outcome]:
    """Heal every open fault (only RUN_ID's when given), newest first (the reverse of injection),
    one outcome each. Given the validated TARGET, the healers do not read TARGET_FILE again."""
    for fault in reversed(fault_log.open_faults(run_id)):
        if not any(f.id == fault.id for f in fault_log.open_faults()):
            continue  # an earlier heal in this loop repaired it too
        configuration = ({TARGET_KEY: str(target_file), RUN_ID_KEY: fault.run_id} if target is None
                         else plan_configuration(target, target_file, fault.run_id))
        yield _heal(fault, configuration)


def _heal(fault: OpenFault, configuration: dict) -> Outcome:
    healer = HEALERS.get(fault.heal_action)
    if healer is None:
        return Outcome(fault, f"no rollback named {fault.heal_action!r}")
    try:
        healer(**fault.heal_args, configuration=configuration)
    except ActivityFailed as exc:
        return Outcome(fault, str(exc))
    except Exception as exc:  # noqa: BLE001 - one fault that cannot be healed must not stop the others
        return Outcome(fault, f"{type(exc).__name__}: {exc}")
    return Outcome(fault)
