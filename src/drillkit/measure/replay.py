"""A measurement folder analysed again from its raw files: what `drillkit report RUN_DIR` scores.

The session writes session.json (its origin, end, faults, rollbacks and settings) beside the rows the
probe process wrote (samples.csv, ledger.csv, leaders.csv, stored.json); together they are everything
the analysis reads, so the same figures come out again, or better ones after the analysis improved.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from drillkit import clock
from drillkit.errors import InvalidInput
from drillkit.measure import analysis, restore
from drillkit.measure.raw import LedgerFormatError, SamplesFormatError, read_samples, read_writes
from drillkit.measure.samples import FaultEvent
from drillkit.model.measurements import Measurements, ProcessUse
from drillkit.model.objectives import Objectives

RECORD_FILE = "session.json"


def record(*, origin: float, ended: float, stopped: str, faults: list[FaultEvent],
           rollbacks: tuple[float, float | None] | None, settings: analysis.AnalysisSettings,
           writers: list[str]) -> dict[str, Any]:
    """What session.json holds: the session's own facts, in monotonic seconds."""
    return {"origin": origin, "origin_utc": clock.utc_of(origin).isoformat(), "ended": ended, "stopped": stopped,
            "faults": [asdict(f) for f in faults],
            "rollbacks": rollbacks, "settings": asdict(settings), "writers": writers}


def replayable(directory: Path) -> bool:
    return (directory / RECORD_FILE).is_file() and (directory / "samples.csv").is_file()


def reanalyze(directory: Path, objectives: Objectives) -> Measurements:
    """The Measurements of DIRECTORY, computed again from its raw files."""
    try:
        facts = json.loads((directory / RECORD_FILE).read_text())
        samples = read_samples(directory / "samples.csv")
        ledger = directory / "ledger.csv"
        writes = read_writes(ledger) if ledger.is_file() else []
    except (OSError, ValueError, SamplesFormatError, LedgerFormatError) as exc:
        raise InvalidInput(f"{directory}: (files): cannot be analysed again: {exc}") from exc
    leaders, lags = read_leaders(directory / "leaders.csv")
    stored, error = read_stored(directory / "stored.json") if facts["writers"] else (None, None)
    wanted = {f.name for f in fields(analysis.AnalysisSettings)}
    rollbacks = facts["rollbacks"]
    measured = analysis.analyze(
        samples=samples, writes=writes, stored=stored, reconcile_error=error,
        faults=[FaultEvent(**fault) for fault in facts["faults"]],
        rollbacks=None if rollbacks is None else (rollbacks[0], rollbacks[1]),
        leaders=leader_changes(leaders), lags=lags,
        settings=analysis.AnalysisSettings(**{k: v for k, v in facts["settings"].items() if k in wanted}),
        objectives=objectives, origin=facts["origin"], ended=facts["ended"], stopped=facts["stopped"],
        restore_records=restore.read_records(directory), process=process_use(directory),
    )
    # UTC comes from each process's own clock anchor: keep the one the run wrote
    return measured.model_copy(update={"origin_utc": facts.get("origin_utc", measured.origin_utc)})


def read_leaders(path: Path) -> tuple[list[tuple[float, str]], list[int]]:
    """leaders.csv: every poll's (time, leader) and the replication lags seen."""
    leaders: list[tuple[float, str]] = []
    lags: list[int] = []
    if not path.is_file():
        return leaders, lags
    with path.open(newline="") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            leaders.append((float(row["at"]), row["leader"]))
            if row["lag_bytes_max"]:
                lags.append(int(row["lag_bytes_max"]))
    return leaders, lags


def read_stored(path: Path) -> tuple[dict[str, set[int]] | None, str | None]:
    """stored.json: each writer's stored seqs, or why the ledger could not be read back."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"{path}: no ledger read-back ({exc})"
    if "stored" in found:
        return {writer: set(seqs) for writer, seqs in found["stored"].items()}, None
    return None, str(found.get("error"))


def leader_changes(leaders: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """The polls at which the leader changed (the first poll included)."""
    changes: list[tuple[float, str]] = []
    for at, name in leaders:
        if not changes or changes[-1][1] != name:
            changes.append((at, name))
    return changes


def process_use(directory: Path) -> ProcessUse | None:
    """The probe process's own CPU and priority, from the probe.json it left in DIRECTORY; None when it
    did not record them (it died before its schedules ended)."""
    try:
        status = json.loads((directory / "probe.json").read_text())
        return ProcessUse(**status["process"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
