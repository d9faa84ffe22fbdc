"""`drillkit backup status`: the backup server's catalogue, the newest restorable point and barman check.

The policy verdict is not computed here: the policy check (drillkit.backup.check) owns it. A status
carries it when a caller hands one over (`policy`), so that the command can show both.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from drillkit.backup.barman import Barman, WalFile
from drillkit.model.backup import BackupInfo, PolicyCheck

__all__ = ["BackupStatus", "backup_status", "newest_restorable", "wal_gaps"]

_SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
SEGMENTS_PER_LOG = 0x100  # 16 MiB segments: 256 per 4 GiB "log"


class BackupStatus(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    server: str
    checked_utc: str
    backups: list[BackupInfo]                       # oldest first
    newest_restorable_utc: str | None               # end of the continuous WAL archive, else newest backup's end
    newest_restorable_source: str                   # "WAL archive", "newest backup" or "nothing restorable"
    wal_files: int
    wal_gaps: list[str] = Field(default_factory=list)  # "after X, next is Y"
    check: dict[str, bool | str] = Field(default_factory=dict)  # barman check, by check name
    policy: PolicyCheck | None = None               # the policy verdict, when a policy check ran


def backup_status(barman: Barman) -> BackupStatus:
    backups = barman.list_backups()
    wal = barman.wal_files()
    restorable, source = newest_restorable(backups, wal)
    return BackupStatus(
        server=barman.server, checked_utc=datetime.now(UTC).isoformat(), backups=backups,
        newest_restorable_utc=restorable, newest_restorable_source=source, wal_files=len(wal),
        wal_gaps=wal_gaps(wal), check=barman.check(),
    )


def newest_restorable(backups: list[BackupInfo], wal: list[WalFile]) -> tuple[str | None, str]:
    """The newest instant a restore can reach, and what says so: the last WAL file archived without a gap
    since the newest finished backup began (its commits are all at or before the moment it was archived),
    else the end of that backup."""
    done = [info for info in backups if info.status == "DONE"]
    if not done:
        return None, "nothing restorable"
    newest = done[-1]
    segments = [f for f in wal if _index(f.name) is not None]
    start = _index(newest.begin_wal or "")
    if start is not None:
        after = [f for f in segments if (_index(f.name) or 0) >= start]
        contiguous = _contiguous_prefix(after, start)
        if contiguous:
            archived = max(f.archived_at for f in contiguous)
            if newest.end_utc is None or archived >= datetime.fromisoformat(newest.end_utc).timestamp():
                return datetime.fromtimestamp(archived, UTC).isoformat(), "WAL archive"
    return newest.end_utc, "newest backup"


def wal_gaps(wal: list[WalFile]) -> list[str]:
    """Every hole in the archive's sequence of segments (timelines aside: a switch keeps the numbering)."""
    names = sorted({f.name for f in wal if _index(f.name) is not None}, key=lambda name: _index(name) or 0)
    gaps = []
    for before, after in zip(names, names[1:], strict=False):
        if (_index(after) or 0) - (_index(before) or 0) > 1:
            gaps.append(f"after {before}, next is {after}")
    return gaps


def _contiguous_prefix(files: list[WalFile], start: int) -> list[WalFile]:
    by_index: dict[int, list[WalFile]] = {}
    for f in files:
        by_index.setdefault(_index(f.name) or 0, []).append(f)
    run, index = [], start
    while index in by_index:
        run += by_index[index]
        index += 1
    return run


def _index(name: str) -> int | None:
    match = _SEGMENT.match(name)
    if not match:
        return None
    return int(match.group(2), 16) * SEGMENTS_PER_LOG + int(match.group(3), 16)
