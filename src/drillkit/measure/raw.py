"""The raw rows the instrument produces, and their CSV form.

The dataclasses Sample and Write belong to the analysis (measure/samples.py, measure/ledger.py); the
instrument only fills them. Until those modules carry the agreed fields, compatible local ones stand
in, so that the probe process and the files it writes already speak the agreed format.

    samples.csv  prober,endpoint,kind,intended,sent,latency,status,error
    ledger.csv   writer,seq,intended,sent,acked_at,note

Times are seconds on CLOCK_MONOTONIC, which is one clock for every process of the machine: the probe
process's times line up with the fault activities' without conversion. An empty `sent` or `acked_at`
cell means None. The first line of each file is `# anchor {...}`, the UTC anchor of the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from drillkit.measure import ledger, samples

SAMPLE_COLUMNS = ["prober", "endpoint", "kind", "intended", "sent", "latency", "status", "error"]
WRITE_COLUMNS = ["writer", "seq", "intended", "sent", "acked_at", "note"]


def _has_fields(cls: type, names: list[str]) -> bool:
    return [f.name for f in fields(cls)][: len(names)] == names


@dataclass(frozen=True)
class _Sample:
    prober: str
    endpoint: str
    kind: str
    intended: float
    sent: float | None
    latency: float
    status: int
    error: str

    @property
    def completed(self) -> float:
        return self.intended + self.latency

    @property
    def succeeded(self) -> bool:
        return not self.error and 200 <= self.status < 400


@dataclass(frozen=True)
class _Write:
    writer: str
    seq: int
    intended: float
    sent: float | None = None
    acked_at: float | None = None
    note: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.acked_at is not None


Sample = samples.Sample if _has_fields(samples.Sample, SAMPLE_COLUMNS) else _Sample
Write = ledger.Write if _has_fields(ledger.Write, WRITE_COLUMNS) else _Write


def sample_row(sample: _Sample) -> tuple:
    return tuple(_cell(getattr(sample, name)) for name in SAMPLE_COLUMNS)


def write_row(write: _Write) -> tuple:
    return tuple(_cell(getattr(write, name)) for name in WRITE_COLUMNS)


def sample_of(row: list[str]) -> _Sample:
    prober, endpoint, kind, intended, sent, latency, status, error = row
    return Sample(prober, endpoint, kind, float(intended), _optional(sent), float(latency), int(status), error)


def write_of(row: list[str]) -> _Write:
    writer, seq, intended, sent, acked_at, note = row
    return Write(writer, int(seq), float(intended), _optional(sent), _optional(acked_at), note)


def _cell(value: object) -> object:
    if value is None:
        return ""
    return round(value, 6) if isinstance(value, float) else value


def _optional(cell: str) -> float | None:
    return float(cell) if cell else None
