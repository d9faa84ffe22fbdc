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
    _replace(path, json.dumps(scrub(data), indent=indent, default=_masked))


def write_text(path: Path, text: str, mode: int | None = None) -> None:
    """Replace PATH with TEXT, secrets masked (MODE: its permissions, for a reader of another user)."""
    _replace(path, redact(text), mode)


def _replace(path: Path, text: str, mode: int | None = None) -> None:
    """Write, fsync, rename: readers see the old file or the new one, never half of one. The temporary
    file is PATH's name with `.tmp` after it, so a reader of `*.prom` or `*.json` never picks it up, and
    it is removed when the write fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            tmp.chmod(mode)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _masked(value: Any) -> str:
    """What JSON cannot hold is written as its text, masked like every other string."""
    return redact(str(value))
