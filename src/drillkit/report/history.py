"""reports/history.jsonl: one line per drill run, for the trend across quarters."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from drillkit import durable
from drillkit.model.report import HistoryEntry


def read(path: Path) -> list[HistoryEntry]:
    """Every readable line, oldest first; a line that is not a history entry (torn, older) is skipped."""
    entries = []
    for line in durable.read_lines(path):
        try:
            entries.append(HistoryEntry.model_validate(line))
        except ValidationError:
            continue
    return sorted(entries, key=lambda entry: entry.started_utc)


def append(path: Path, entry: HistoryEntry) -> None:
    durable.append_line(path, entry.model_dump(mode="json"))
