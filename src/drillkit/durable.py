"""Files that survive a crash: JSON documents replaced atomically (write, fsync, rename), and
append-only JSON lines where each record is fsynced, a line torn by a crash is skipped on reading,
and no record is ever glued onto a torn line. No secret is ever written: every string goes through
drillkit.redaction first."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from drillkit.redaction import redact, scrub


def append_line(path: Path, record: dict[str, Any]) -> None:
    line = (json.dumps(scrub(record), sort_keys=True, default=_masked) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(descriptor).st_size
        if size and os.pread(descriptor, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(descriptor, line)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_lines(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # torn by a crash mid-write
    return records


def write_json(path: Path, data: Any, indent: int | None = 2) -> None:
    """Replace PATH with DATA as JSON: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as handle:
        json.dump(scrub(data), handle, indent=indent, default=_masked)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def _masked(value: Any) -> str:
    """What JSON cannot hold is written as its text, masked like every other string."""
    return redact(str(value))
