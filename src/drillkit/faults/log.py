"""The fault log: every fault is written down (and fsynced) before it is injected, and marked healed
by its rollback, so that `drillkit recover` can heal whatever a killed run left open.

One JSON object per line: {"event": "opened", "id", "fault", "heal": {"action", "args"}, "at", ...}
or {"event": "healed", "id", "at", "note"}.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drillkit import durable
from drillkit.measure import clock


@dataclass(frozen=True)
class OpenFault:
    id: str
    fault: str
    heal_action: str
    heal_args: dict[str, Any]
    opened_at: str
    details: dict[str, Any] = field(default_factory=dict)


class FaultLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def opened(self, fault: str, heal_action: str, heal_args: dict[str, Any], **details: Any) -> str:
        """Record a fault about to be injected; returns its id."""
        fault_id = uuid.uuid4().hex[:12]
        self._append({
            "event": "opened", "id": fault_id, "fault": fault,
            "heal": {"action": heal_action, "args": heal_args}, "at": clock.now().utc.isoformat(),
            "details": details,
        })
        return fault_id

    def healed(self, heal_action: str, heal_args: dict[str, Any], note: str = "") -> int:
        """Mark healed every open fault that this heal action with these arguments repairs."""
        matching = [f for f in self.open_faults() if (f.heal_action, f.heal_args) == (heal_action, heal_args)]
        for fault in matching:
            self.close(fault.id, note or heal_action)
        return len(matching)

    def close(self, fault_id: str, note: str) -> None:
        self._append({"event": "healed", "id": fault_id, "at": clock.now().utc.isoformat(), "note": note})

    def open_faults(self) -> list[OpenFault]:
        """Faults opened and not healed, oldest first."""
        opened: dict[str, OpenFault] = {}
        for record in self._records():
            if record.get("event") == "opened":
                heal = record["heal"]
                opened[record["id"]] = OpenFault(
                    record["id"], record["fault"], heal["action"], heal["args"], record["at"],
                    record.get("details", {}),
                )
            elif record.get("event") == "healed":
                opened.pop(record.get("id"), None)
        return list(opened.values())

    def _records(self) -> list[dict[str, Any]]:
        return durable.read_lines(self.path)

    def _append(self, record: dict[str, Any]) -> None:
        with self._lock:
            durable.append_line(self.path, record)
