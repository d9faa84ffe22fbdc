"""RPO from data: sequenced writes through the global endpoint, read back after recovery, and
classified the way Jepsen does.

A write is acknowledged only when the app answered 201/200, which it does after COMMIT. Anything
else (a timeout, a reset, a 5xx) is indeterminate: the write may or may not have committed. So an
indeterminate write found later is "recovered", and one not found is simply not there: it is never
counted as lost.

    lost        acknowledged, missing after recovery
    recovered   indeterminate, yet present
    unexpected  present, never sent

RPO_time = T0 − the acknowledgement time of the newest acknowledged write with no lost acknowledged
write before it (0 when nothing acknowledged was lost). When writes acknowledged after T0 were lost too
(a partitioned primary kept acknowledging until it demoted itself), the newest lost write's time
replaces T0: the RPO is then the whole span of acknowledged data that was lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Write:
    writer: str
    seq: int
    intended: float               # monotonic
    acked_at: float | None = None  # monotonic time of the 201/200; None: indeterminate

    @property
    def acknowledged(self) -> bool:
        return self.acked_at is not None


@dataclass(frozen=True)
class Reconciliation:
    attempted: int
    acknowledged: int
    lost: list[tuple[str, int]] = field(default_factory=list)
    recovered: list[tuple[str, int]] = field(default_factory=list)
    unexpected: list[tuple[str, int]] = field(default_factory=list)
    rpo_seconds: float = 0.0
    first_lost_at: float | None = None  # seconds after T0 (negative: before it)
    last_lost_at: float | None = None

    @property
    def lost_count(self) -> int:
        return len(self.lost)


def reconcile(writes: list[Write], stored: dict[str, set[int]], t0: float) -> Reconciliation:
    """Classify WRITES against what each writer finds STORED after recovery."""
    sent = {(w.writer, w.seq) for w in writes}
    lost = [w for w in writes if w.acknowledged and w.seq not in stored.get(w.writer, set())]
    recovered = [(w.writer, w.seq) for w in writes
                 if not w.acknowledged and w.seq in stored.get(w.writer, set())]
    unexpected = sorted((writer, seq) for writer, seqs in stored.items() for seq in seqs
                        if (writer, seq) not in sent)
    lost_times = sorted(w.acked_at for w in lost)
    return Reconciliation(
        attempted=len(writes),
        acknowledged=sum(w.acknowledged for w in writes),
        lost=sorted((w.writer, w.seq) for w in lost),
        recovered=sorted(recovered),
        unexpected=unexpected,
        rpo_seconds=_rpo(writes, lost_times, t0),
        first_lost_at=round(lost_times[0] - t0, 3) if lost_times else None,
        last_lost_at=round(lost_times[-1] - t0, 3) if lost_times else None,
    )


def _rpo(writes: list[Write], lost_times: list[float], t0: float) -> float:
    if not lost_times:
        return 0.0
    safe = [w.acked_at for w in writes if w.acknowledged and w.acked_at < lost_times[0]]
    newest_safe = max(safe, default=min(w.intended for w in writes))
    return round(max(0.0, max(t0, lost_times[-1]) - newest_safe), 3)
