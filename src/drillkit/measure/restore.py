"""A restore drill measured: its procedure's record (restore-<activity>.json) and the session's ledger
writes become a `Restore`.

    RTO      T0 to "serving": [serving.lower − T0 confirmed, serving.upper − T0 issued]
    phases   each phase the same way, as seconds after T0
    RPO      the Jepsen count (measure/ledger.py) over the writes sent by T0 issued (the destructive change,
             or the moment the primary and its WAL were declared lost): one acknowledged by then and
             missing from the copy is lost; one acknowledged later is indeterminate with respect to it
             (it may have committed on either side), so it is never lost. A point-in-time restore
             targets T0 itself; a restore from backups alone stops at the newest backup's end, so the
             writes between that end and T0 are lost and the RPO is about the backup's age at T0
    newest_recovered_before_t0_s
             T0 issued − the newest write acknowledged before T0 that the copy holds: how old the
             restored data is
    after T0
             writes sent after T0 cannot have committed before it: each found in the copy is reported
             (the restore overshot), each missing is counted as expected

A record that is missing, invalid or unfinished, or holds no ledger rows, is "not measured" with the
reason; the phases it reached are kept. One whose procedure stopped because a check of the copy failed is
measured: the copy never served (its RTO is unbounded) and its checks say why; its RPO, never compared, is
not measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from drillkit.measure import ledger
from drillkit.measure.samples import FaultEvent
from drillkit.model.backup import RestoreCheck, RestoreRecord
from drillkit.model.measurements import Bounds, Restore, RestorePhase, Rpo

RECORD_PREFIX = "restore-"


def record_file(activity: str) -> str:
    """The name of ACTIVITY's record in the run folder."""
    return f"{RECORD_PREFIX}{activity}.json"


def missing(activity: str, mode: str, reason: str) -> Restore:
    """A restore the drill ran (or meant to run) without a usable record."""
    return Restore(activity=activity, mode=mode, status="not measured", reason=reason)


def measured(record: RestoreRecord, writes: list[ledger.Write]) -> Restore:
    """RECORD against the session's ledger WRITES."""
    t0 = ledger.T0(record.t0_issued, record.t0_confirmed)
    phases = [RestorePhase(name=p.name, after_t0=_after_t0(p.lower, p.upper, t0)) for p in record.phases]
    serving = next((p for p in record.phases if p.name == "serving"), None)
    common = dict(activity=record.activity, mode=record.mode, recovery_target=record.recovery_target,
                  loss_placement=record.loss_placement,
                  backup_chain=list(record.backup_chain), phases=phases, checks=list(record.checks),
                  restored_bytes=record.restored_bytes,
                  rto=None if serving is None else _after_t0(serving.lower, serving.upper, t0))
    failed = [c for c in record.checks if not c.ok]
    if record.error and failed:  # the copy was refused for what its checks saw: that is what happened
        return Restore(status="measured", reason=f"the restored copy failed its checks: {record.error}",
                       **{**common, "rto": None})
    reason = _unmeasurable(record) or _unread_writers(record, writes)
    if reason:
        return Restore(status="not measured", reason=reason, **common)
    stored = {writer: set(seqs) for writer, seqs in (record.restored_ledger or {}).items()}
    target = record.t0_issued  # data acknowledged before the loss must be in the copy, whatever it restored to
    common["checks"] = [*record.checks, ledger_view_check(writes, stored, _view_end(record))]
    return Restore(status="measured", rpo=_rpo(writes, stored, target),
                   newest_recovered_before_t0_s=_newest_recovered(writes, stored, t0),
                   after_target_present=_after_target(writes, stored, target, present=True),
                   after_target_absent=_after_target(writes, stored, target, present=False), **common)


def target_monotonic(record: RestoreRecord) -> float:
    """The recovery target on the session's monotonic clock: an ISO time is placed by its distance from
    T0's UTC time (both taken by the procedure's clock); "end of the newest backup" is the backup's end."""
    target = record.backup_end_utc if record.mode == "backups only" else record.recovery_target
    if not target:
        raise ValueError("the record names no recovery target time")
    return _monotonic_at(record, target)


def _monotonic_at(record: RestoreRecord, utc: str) -> float:
    """An ISO time of the procedure's clock on the session's monotonic clock, by its distance from T0."""
    return record.t0_issued + (datetime.fromisoformat(utc) - datetime.fromisoformat(record.t0_utc)).total_seconds()


def _view_end(record: RestoreRecord) -> float:
    """Up to when the copy must hold every acknowledged write: the recovery target; for a copy of a backup
    alone, the backup's begin, since a write committed while it ran may lie on either side of its
    consistency point (its end time is when barman finished, later than that point)."""
    if record.mode == "backups only" and record.backup_begin_utc:
        return _monotonic_at(record, record.backup_begin_utc)
    return target_monotonic(record)


def _unmeasurable(record: RestoreRecord) -> str:
    if record.error:
        return f"the restore failed: {record.error}"
    if not record.finished:
        reached = record.phases[-1].name if record.phases else "nothing"
        return f"the restore did not finish (last phase reached: {reached})"
    if record.restored_ledger is None:
        return "the restored copy's ledger was not read"
    try:
        target = target_monotonic(record)
    except ValueError as exc:
        return f"the recovery target cannot be placed in time: {exc}"
    if record.mode == "backups only" and target > record.t0_issued:
        return (f"the restored backup ended {target - record.t0_issued:.1f} s after T0, the declared loss: it "
                "could not have been taken, so its RPO would be better than the backups the loss left")
    return ""


def _unread_writers(record: RestoreRecord, writes: list[ledger.Write]) -> str:
    """A writer missing from the record was never asked for (not found absent): its writes cannot be judged."""
    unread = sorted({w.writer for w in writes} - set(record.restored_ledger or {}))
    if unread:
        return f"the restored copy's ledger was not read for writer(s) {', '.join(map(repr, unread))}"
    return ""


def ledger_view_check(writes: list[ledger.Write], stored: dict[str, set[int]], view_end: float) -> RestoreCheck:
    """The copy's ledger rows against the ledger's own view at the point it restored to (VIEW_END): every
    write acknowledged by then is there, and no row is one the writers never sent."""
    expected = [w for w in writes if w.acked_at is not None and w.acked_at <= view_end]
    missing = sum(w.seq not in stored.get(w.writer, set()) for w in expected)
    sent = {(w.writer, w.seq) for w in writes}
    strays = sum((writer, seq) not in sent for writer, seqs in stored.items() for seq in seqs)
    held = sum(len(seqs) for seqs in stored.values())
    detail = (f"{held} ledger rows in the copy; {len(expected)} writes acknowledged by the point restored to, "
              f"{missing} of them missing; {strays} rows never sent")
    return RestoreCheck(name="ledger rows match the ledger", ok=not missing and not strays, detail=detail)


def _after_t0(lower: float, upper: float, t0: ledger.T0) -> Bounds:
    return Bounds(lower=round(lower - t0.confirmed, 3), upper=round(upper - t0.issued, 3))


def _rpo(writes: list[ledger.Write], stored: dict[str, set[int]], target: float) -> Rpo | None:
    """Jepsen's count over the writes sent by T0 (TARGET); an acknowledgement after it says nothing
    about which side of the target the commit fell, so such a write counts as indeterminate."""
    before = [w if w.acked_at is None or w.acked_at <= target else replace(w, acked_at=None, note="acked after target")
              for w in writes if w.sent is not None and w.sent <= target]
    later = {(w.writer, w.seq) for w in writes if w.sent is None or w.sent > target}  # judged apart
    ours = {w.writer for w in writes}
    kept = {writer: {seq for seq in seqs if (writer, seq) not in later} for writer, seqs in stored.items()
            if writer in ours}
    return ledger.rpo(before, kept, t0=ledger.T0(target, target))


def _newest_recovered(writes: list[ledger.Write], stored: dict[str, set[int]], t0: ledger.T0) -> float | None:
    kept = [w.acked_at for w in writes if w.acked_at is not None and w.acked_at <= t0.issued
            and w.seq in stored.get(w.writer, set())]
    return round(t0.issued - max(kept), 3) if kept else None


def _after_target(writes: list[ledger.Write], stored: dict[str, set[int]], target: float, *, present: bool) -> int:
    return sum((w.seq in stored.get(w.writer, set())) is present
               for w in writes if w.acknowledged and w.sent is not None and w.sent > target)


# Faults whose activities run a restore procedure and write a record: a run that logged one of them and
# left no record still shows the restore, as not measured.
RESTORE_FAULTS = {"restore_point_in_time": "point in time", "restore_from_backups": "backups only"}
Found = RestoreRecord | Restore  # a record read, or a restore already judged unmeasurable


def read_records(out_dir: Path) -> list[Found]:
    """Every restore record in the run folder OUT_DIR, in name order; an unreadable one is judged here."""
    found: list[Found] = []
    for path in sorted(out_dir.glob(f"{RECORD_PREFIX}*.json")):
        activity = path.stem.removeprefix(RECORD_PREFIX)
        try:
            found.append(RestoreRecord.model_validate_json(path.read_bytes()))
        except (OSError, ValueError) as exc:
            found.append(missing(activity, "", f"{path}: not a restore record ({_first_line(exc)})"))
    return found


def restores(found: Sequence[Found], writes: list[ledger.Write], faults: Sequence[FaultEvent]) -> list[Restore]:
    """Each restore of the run measured; each restore fault without a record, not measured."""
    judged = [measured(item, writes) if isinstance(item, RestoreRecord) else item for item in found]
    recorded = {r.activity for r in judged}
    for fault in faults:
        name = fault.fault  # a restore activity records itself under its own name
        if name in RESTORE_FAULTS and name not in recorded:
            judged.append(missing(name, RESTORE_FAULTS[fault.fault],
                                  f"the restore procedure left no record ({record_file(name)})"))
            recorded.add(name)
    return judged


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
