"""The instrument's rows in their CSV form: one codec for the probe process that writes them, the
session that tails them and the readers that analyse a run again.

    samples.csv  prober,endpoint,kind,intended,sent,latency,status,error
    ledger.csv   writer,seq,intended,sent,acked_at,note

Times are seconds on CLOCK_MONOTONIC, which is one clock for every process of the machine: the probe
process's times line up with the fault activities' without conversion. An empty `sent` or `acked_at`
cell means None. The first line of each file is `# anchor {...}`, the UTC anchor of the clock.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from drillkit.measure.ledger import WRITE_FIELDS, Write
from drillkit.measure.samples import FIELDS, Sample

Row = TypeVar("Row")

SAMPLE_COLUMNS = FIELDS
WRITE_COLUMNS = WRITE_FIELDS


def sample_row(sample: Sample) -> tuple:
    return tuple(_cell(getattr(sample, name)) for name in SAMPLE_COLUMNS)


def write_row(write: Write) -> tuple:
    return tuple(_cell(getattr(write, name)) for name in WRITE_COLUMNS)


def sample_of(row: list[str]) -> Sample:
    prober, endpoint, kind, intended, sent, latency, status, error = row
    return Sample(prober, endpoint, kind, float(intended), _optional(sent), float(latency), int(status), error)


def write_of(row: list[str]) -> Write:
    writer, seq, intended, sent, acked_at, note = row
    return Write(writer, int(seq), float(intended), _optional(sent), _optional(acked_at), note)


def _cell(value: object) -> object:
    if value is None:
        return ""
    return round(value, 6) if isinstance(value, float) else value


def _optional(cell: str) -> float | None:
    return float(cell) if cell else None


class SamplesFormatError(ValueError):
    """A samples file this version cannot read: it names the file and what is wrong."""


class LedgerFormatError(ValueError):
    """A ledger file this version cannot read: it names the file and what is wrong."""


def read_samples(path: Path) -> list[Sample]:
    return _read(path, SAMPLE_COLUMNS, sample_of, SamplesFormatError)


def read_writes(path: Path) -> list[Write]:
    return _read(path, WRITE_COLUMNS, write_of, LedgerFormatError)


def _read(path: Path, columns: list[str], parse: Callable[[list[str]], Row],
          error: type[ValueError]) -> list[Row]:
    """The rows of PATH, each parsed from COLUMNS in their order (comment lines, such as the clock
    anchor, skipped); a file without one of them was written by an older drillkit."""
    with path.open(newline="") as handle:
        reader = csv.reader(line for line in handle if not line.startswith("#"))
        header = next(reader, [])
        missing = [name for name in columns if name not in header]
        if missing:
            raise error(f"{path}: missing column(s) {', '.join(missing)}; "
                        "it was written by an older drillkit and cannot be analysed")
        order = [header.index(name) for name in columns]
        try:
            return [parse([row[i] for i in order]) for row in reader]
        except (ValueError, IndexError) as exc:
            raise error(f"{path}, row {reader.line_num}: {exc}") from exc
