"""RPO from data: sequenced writes through the global endpoint, read back after recovery, and
classified the way Jepsen does.

A write is acknowledged only when the app answered 201/200, which it does after COMMIT. Anything
else (a timeout, a reset, an error answer, a send task that died) is indeterminate: the write may or
may not have committed. So an indeterminate write found later is "recovered", and one not found is
simply not there: it is never counted as lost.

    lost        acknowledged, missing after recovery
    recovered   indeterminate, yet present
    unexpected  present, never sent

The loss is reported in two parts around the fault's T0 = [issued, confirmed]:
    RPO          acknowledged at or before T0's upper end, then lost (replication loss):
                 max(T0_issued, newest such loss) − the newest acknowledged write kept before the first
                 such loss. When no kept write precedes it, the loss reaches the ledger's first write and
                 the RPO is "at least" T0_issued − the first write's intended time.
    split brain  acknowledged after T0's upper end, then lost (a partitioned primary kept acknowledging):
                 a count and the span from the first to the last such acknowledgement.

Both parts are figures about the instants around T0, so both need observations there: the RPO is "not
measured" when no write was acknowledged within NEAR_S before T0's lower end (a loss in that gap could
not be seen: six writes in the first 0.3 s, then only refusals, prove nothing about T0), and the split
brain is "not measured" when no write was sent within NEAR_S after T0's upper end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields

from drillkit.model.measurements import Rpo, SplitBrain

LOST_SAMPLE = 100
NEAR_S = 1.0  # the widest gap, next to T0, that a loss could hide in and still be called measured


@dataclass(frozen=True)
class Write:
    writer: str
    seq: int
    intended: float               # monotonic scheduled time
    sent: float | None            # monotonic time handed to a connection; None: never left
    acked_at: float | None        # monotonic time of the 201/200; None: indeterminate
    note: str = ""                # why indeterminate: "timeout", "reset", "http 503", "task died", …

    @property
    def acknowledged(self) -> bool:
        return self.acked_at is not None


WRITE_FIELDS = [f.name for f in fields(Write)]  # the columns of ledger.csv, one row per write (astuple)


@dataclass(frozen=True)
class _Lost:
    """An acknowledged write missing after recovery."""

    writer: str
    seq: int
    acked_at: float


@dataclass(frozen=True)
class T0:
    issued: float
    confirmed: float


def rpo(
    writes: list[Write], stored: dict[str, set[int]] | None, *, t0: T0 | None,
    reconcile_error: str | None = None, lags: list[int] | None = None, near_s: float = NEAR_S,
) -> Rpo | None:
    """The RPO in parts; None when the session wrote no ledger (a baseline), "not measured" when it could
    not (RECONCILE_ERROR says why) or when no write was acknowledged (a refusing ledger proves nothing).
    T0 None: no fault was injected, so every loss counts as replication loss measured against the last write."""
    lag = max(lags) if lags else None
    if not writes and stored is None and reconcile_error is None:
        return None
    counts = dict(attempted=len(writes), acknowledged=sum(w.acknowledged for w in writes),
                  indeterminate=sum(not w.acknowledged for w in writes), replication_lag_bytes_max=lag)
    if stored is None:
        reason = reconcile_error or "the ledger was not read back after recovery"
        return Rpo(status="not measured", reason=f"not reconciled: {reason}", **counts)
    if not writes:
        return Rpo(status="not measured", reason="no ledger write was attempted", **counts)
    t0 = t0 or T0(max(w.intended for w in writes), max(w.intended for w in writes))
    classified = _classified(writes, stored, t0, counts)
    if not counts["acknowledged"]:  # nothing acknowledged, nothing that could be lost: no figure, the counts kept
        return classified.model_copy(update={"status": "not measured", "seconds": None,
                                             "reason": f"no ledger write was acknowledged ({_why_not(writes)})"})
    gap = _gap_before(writes, t0)
    if gap > near_s:
        return classified.model_copy(update={
            "status": "not measured", "seconds": None,
            "reason": f"no write was acknowledged in the {near_s:g} s before the fault (the last one "
                      f"{gap:.1f} s before it): a loss near the fault could not have been seen"})
    return classified.model_copy(update={"split_brain": _split_brain_observed(classified.split_brain, writes,
                                                                               t0, near_s)})


def _gap_before(writes: list[Write], t0: T0) -> float:
    """Seconds from the newest write acknowledged by T0's upper end back to T0's lower end (inf: none)."""
    acked = [w.acked_at for w in writes if w.acked_at is not None and w.acked_at <= t0.confirmed]
    return max(0.0, t0.issued - max(acked)) if acked else float("inf")


def _split_brain_observed(found: SplitBrain, writes: list[Write], t0: T0, near_s: float) -> SplitBrain:
    """A split brain of 0 is a figure only when writes were still sent right after the fault."""
    if found.count or any(w.sent is not None and t0.confirmed < w.sent <= t0.confirmed + near_s for w in writes):
        return found
    return found.model_copy(update={"status": "not measured",
                                    "reason": f"no write was sent in the {near_s:g} s after the fault: a write "
                                              "acknowledged after it and then lost could not have been seen"})


def _why_not(writes: list[Write]) -> str:
    """The notes of unacknowledged WRITES, the most frequent first: "sqlstate 42501 × 10"."""
    notes = Counter(w.note or "no note" for w in writes if not w.acknowledged)
    return ", ".join(f"{note} × {n}" for note, n in notes.most_common(3))


def _classified(writes: list[Write], stored: dict[str, set[int]], t0: T0, counts: dict) -> Rpo:
    lost = sorted((_Lost(w.writer, w.seq, w.acked_at) for w in writes
                   if w.acked_at is not None and w.seq not in stored.get(w.writer, set())),
                  key=lambda loss: loss.acked_at)
    sent = {(w.writer, w.seq) for w in writes}
    before = [w for w in lost if w.acked_at <= t0.confirmed]
    after = [w for w in lost if w.acked_at > t0.confirmed]
    seconds, at_least = _rpo_seconds(writes, before, t0)
    return Rpo(
        status="measured", seconds=seconds, at_least=at_least, lost=len(before),
        recovered=sum(not w.acknowledged and w.seq in stored.get(w.writer, set()) for w in writes),
        unexpected=sum((writer, seq) not in sent for writer, seqs in stored.items() for seq in seqs),
        split_brain=_split_brain(after, t0), lost_sample=[(w.writer, w.seq) for w in lost[:LOST_SAMPLE]],
        **counts,
    )


def _rpo_seconds(writes: list[Write], lost: list[_Lost], t0: T0) -> tuple[float, bool]:
    if not lost:
        return 0.0, False
    first_lost = lost[0].acked_at
    kept = [w.acked_at for w in writes if w.acked_at is not None and w.acked_at < first_lost]
    end = max(t0.issued, lost[-1].acked_at)
    if not kept:
        return round(end - min(w.intended for w in writes), 3), True
    return round(end - max(kept), 3), False


def _split_brain(lost: list[_Lost], t0: T0) -> SplitBrain:
    if not lost:
        return SplitBrain()
    first, last = lost[0].acked_at - t0.confirmed, lost[-1].acked_at - t0.confirmed
    return SplitBrain(count=len(lost), span_s=round(last - first, 3), first_after_t0=round(first, 3),
                      last_after_t0=round(last, 3))
