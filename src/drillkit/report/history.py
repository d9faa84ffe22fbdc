"""reports/history.jsonl: one line per drill run, for the trend across quarters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drillkit import durable


def read(path: Path) -> list[dict[str, Any]]:
    return sorted(durable.read_lines(path), key=lambda entry: entry.get("started_utc", ""))


def append(path: Path, entry: dict[str, Any]) -> None:
    durable.append_line(path, entry)
