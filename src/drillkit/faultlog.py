"""The fault log: every fault is written down (and fsynced) before it is injected, confirmed once its
action returned, and closed by its rollback (or as "not injected" when its action failed and nothing
of it is in place), so that `drillkit recover` can heal whatever a killed run left open, and the
measurement can take each fault's T0 interval from the log rather than from the end of its activity.

One JSON object per line, each carrying the run id of the run that wrote it:
    {"event": "opened", "id", "run_id", "fault", "heal": {"action", "args"}, "at", "issued_monotonic", "details"}
    {"event": "confirmed", "id", "run_id", "at", "confirmed_monotonic"}
    {"event": "failed", "id", "run_id", "at", "error"}             the action failed; the fault stays open
    {"event": "not_injected", "id", "run_id", "at", "error"}       closes it: nothing of it is in place
    {"event": "healed", "id", "at", "note"}                         closes it: its rollback repaired it
Monotonic times are CLOCK_MONOTONIC seconds, which every process on the machine shares.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillkit import clock, durable

CLOSING_EVENTS = ("healed", "not_injected")


@dataclass(frozen=True)
class OpenFault:
    id: str
    fault: str
    heal_action: str
    heal_args: dict[str, Any]
    opened_at: str
    details: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""


def belongs_to(fault_run_id: str, run_id: str) -> bool:
    """A fault belongs to RUN_ID when it was written by that run or by one of its parts: the
    experiments of drill D run as D/<experiment>-<n>."""
    return fault_run_id == run_id or fault_run_id.startswith(run_id + "/")


class FaultLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def opened(
        self, fault: str, heal_action: str, heal_args: dict[str, Any], run_id: str = "",
        issued_monotonic: float | None = None, **details: Any,
    ) -> str:
        """Record a fault about to be injected; returns its id."""
        fault_id = uuid.uuid4().hex[:12]
        self._append({
            "event": "opened", "id": fault_id, "run_id": run_id, "fault": fault,
            "heal": {"action": heal_action, "args": heal_args}, "at": clock.now().utc.isoformat(),
            "issued_monotonic": issued_monotonic, "details": details,
        })
        return fault_id

    def confirmed(self, fault_id: str, run_id: str, confirmed_monotonic: float) -> None:
        """The fault's action returned: the fault is in place."""
        self._append({"event": "confirmed", "id": fault_id, "run_id": run_id,
                      "at": clock.utc_of(confirmed_monotonic).isoformat(),
                      "confirmed_monotonic": confirmed_monotonic})

    def failed(self, fault_id: str, run_id: str, error: str) -> None:
        """The fault's action failed and whether anything of it is in place is unknown: it stays open."""
        self._append({"event": "failed", "id": fault_id, "run_id": run_id,
                      "at": clock.now().utc.isoformat(), "error": error})

    def not_injected(self, fault_id: str, run_id: str, error: str) -> None:
        """The fault's action failed and nothing of it is in place: close it."""
        self._append({"event": "not_injected", "id": fault_id, "run_id": run_id,
                      "at": clock.now().utc.isoformat(), "error": error})

    def healed(self, heal_action: str, heal_args: dict[str, Any], note: str = "") -> int:
        """Mark healed every open fault that this heal action with these arguments repairs, whichever
        run opened it: the repair is of the target's state, not of a run."""
        matching = [f for f in self.open_faults() if (f.heal_action, f.heal_args) == (heal_action, heal_args)]
        for fault in matching:
            self.close(fault.id, note or heal_action)
        return len(matching)

    def close(self, fault_id: str, note: str) -> None:
        self._append({"event": "healed", "id": fault_id, "at": clock.now().utc.isoformat(), "note": note})

    def open_faults(self, run_id: str | None = None) -> list[OpenFault]:
        """Faults opened and not closed, oldest first; only RUN_ID's (and its parts') when given."""
        opened: dict[str, OpenFault] = {}
        for record in self._records():
            if record.get("event") == "opened":
                opened[record["id"]] = _open_fault(record)
            elif record.get("event") in CLOSING_EVENTS:
                opened.pop(record.get("id", ""), None)
        faults = list(opened.values())
        return faults if run_id is None else [f for f in faults if belongs_to(f.run_id, run_id)]

    def marks(self, run_id: str) -> list[dict[str, Any]]:
        """For the measurement: each fault RUN_ID opened, in order, as
        {fault_id, fault, issued, confirmed, error} with monotonic seconds (confirmed None when the
        fault was never confirmed in place; error None unless its action failed)."""
        marks: dict[str, dict[str, Any]] = {}
        for record in self._records():
            fault_id: str = record.get("id", "")
            if record.get("event") == "opened" and belongs_to(record.get("run_id", ""), run_id):
                marks[fault_id] = {"fault_id": fault_id, "fault": record["fault"],
                                   "issued": record.get("issued_monotonic"), "confirmed": None, "error": None}
            elif fault_id in marks and record.get("event") == "confirmed":
                marks[fault_id]["confirmed"] = record["confirmed_monotonic"]
            elif fault_id in marks and record.get("event") in ("failed", "not_injected"):
                marks[fault_id]["error"] = record.get("error")
        return list(marks.values())

    def _records(self) -> list[dict[str, Any]]:
        return durable.read_lines(self.path)

    def _append(self, record: dict[str, Any]) -> None:
        with self._lock:
            durable.append_line(self.path, record)


def _open_fault(record: dict[str, Any]) -> OpenFault:
    heal = record["heal"]
    return OpenFault(record["id"], record["fault"], heal["action"], heal["args"], record["at"],
                     record.get("details", {}), record.get("run_id", ""))
