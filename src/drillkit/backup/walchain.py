"""WAL segment names and the continuity of an archive, across timeline switches.

A segment name is TTTTTTTTXXXXXXXXYYYYYYYY: the timeline, then the segment number split into a "log id"
and a segment within it. Continuity is judged the way Barman's check-backup and WAL-G's wal-verify judge
it: every segment from a start to the newest archived one is present, each on the timeline that the
newest timeline's history says owned it (a segment at or after a switch point belongs to the new
timeline, which writes the whole segment that holds the switch).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DEFAULT_SEGMENT_SIZE", "Archive", "Gap", "WalName", "continuity", "parse_history", "segment_name"]

DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
_SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
_HISTORY = re.compile(r"^([0-9A-F]{8})\.history$")
_HISTORY_LINE = re.compile(r"^\s*(\d+)\s+([0-9A-Fa-f]+)/([0-9A-Fa-f]+)")


@dataclass(frozen=True, order=True)
class WalName:
    timeline: int
    number: int                     # the absolute segment number (log id × segments per id + segment)


def segments_per_id(segment_size: int) -> int:
    return 0x100000000 // segment_size


def parse_segment(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> WalName | None:
    """The segment a plain archived name stands for; None for .partial, .history, .backup and others."""
    match = _SEGMENT.match(name)
    if not match:
        return None
    timeline, log_id, segment = (int(part, 16) for part in match.groups())
    return WalName(timeline, log_id * segments_per_id(segment_size) + segment)


def segment_name(wal: WalName, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    per_id = segments_per_id(segment_size)
    return f"{wal.timeline:08X}{wal.number // per_id:08X}{wal.number % per_id:08X}"


def history_timeline(name: str) -> int | None:
    match = _HISTORY.match(name)
    return int(match.group(1), 16) if match else None


def parse_history(text: str) -> list[tuple[int, int]]:
    """(parent timeline, LSN where it ended) for each line of a timeline history file, oldest first."""
    switches = []
    for line in text.splitlines():
        match = _HISTORY_LINE.match(line)
        if match:
            switches.append((int(match.group(1)), (int(match.group(2), 16) << 32) | int(match.group(3), 16)))
    return switches


@dataclass(frozen=True)
class Archive:
    """What the archive holds: the plain segment names, and the history file of each timeline (its text)."""

    segments: frozenset[str]
    histories: dict[int, str]
    segment_size: int = DEFAULT_SEGMENT_SIZE

    @classmethod
    def of(cls, names: Iterable[str], histories: dict[int, str] | None = None,
           segment_size: int = DEFAULT_SEGMENT_SIZE) -> Archive:
        return cls(frozenset(name for name in names if _SEGMENT.match(name)), histories or {}, segment_size)

    def parsed(self) -> list[WalName]:
        return sorted(wal for name in self.segments if (wal := parse_segment(name, self.segment_size)))

    def newest_timeline(self) -> int:
        return max([wal.timeline for wal in self.parsed()] + list(self.histories), default=1)

    def owner(self, number: int, timeline: int) -> int:
        """The timeline that owns segment NUMBER in TIMELINE's history."""
        for parent, end_lsn in parse_history(self.histories.get(timeline, "")):
            if number < end_lsn // self.segment_size:
                return parent
        return timeline

    def newest(self) -> WalName | None:
        """The newest segment on the newest timeline's path."""
        timeline = self.newest_timeline()
        on_path = [wal for wal in self.parsed() if self.owner(wal.number, timeline) == wal.timeline]
        return max(on_path, key=lambda wal: wal.number, default=None)


@dataclass(frozen=True)
class Gap:
    first_missing: str              # the first segment the archive lacks
    missing: int                    # how many segments are missing in all


def continuity(archive: Archive, start: str) -> tuple[WalName | None, Gap | None]:
    """From segment START to the newest archived one: (the last segment of the unbroken run, the first gap).
    The run is None when START itself is missing."""
    first = parse_segment(start, archive.segment_size)
    newest = archive.newest()
    if first is None:
        raise ValueError(f"{start!r} is not a WAL segment name")
    timeline = archive.newest_timeline()
    last = newest.number if newest and newest.number >= first.number else first.number
    run_end: WalName | None = None
    gap: Gap | None = None
    missing = 0
    for number in range(first.number, last + 1):
        expected = WalName(archive.owner(number, timeline), number)
        if segment_name(expected, archive.segment_size) in archive.segments:
            if gap is None:
                run_end = expected
            continue
        missing += 1
        if gap is None:
            gap = Gap(segment_name(expected, archive.segment_size), 0)
    return run_end, (Gap(gap.first_missing, missing) if gap else None)
