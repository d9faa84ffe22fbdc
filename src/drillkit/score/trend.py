"""The trend across runs of one drill (reports/history.jsonl) and what got worse since the last one."""

from __future__ import annotations

from collections.abc import Sequence

from drillkit.model.report import HistoryEntry, ObjectiveRow, Trend

KEEP = 7                 # earlier runs shown
RTO_REGRESSION = 1.10    # a worst RTO more than 10 % above the previous run's is flagged


def entry(*, drill: str, started_utc: str, run_dir: str, status: str, score: float, grade: str,
          target_kind: str, rows: list[ObjectiveRow], lost_writes: int | None, target: str = "") -> HistoryEntry:
    by_name = {row.name: row for row in rows}
    return HistoryEntry(drill=drill, quarter=quarter(started_utc), started_utc=started_utc, run_dir=run_dir,
                        status=status, score=score, grade=grade, target_kind=target_kind, target=target,
                        worst_rto_s=by_name["RTO"].value, worst_rpo_s=by_name["RPO"].value, lost_writes=lost_writes)


def quarter(started_utc: str) -> str:
    try:
        return f"{started_utc[:4]}-Q{(int(started_utc[5:7]) - 1) // 3 + 1}"
    except ValueError:
        return ""


def trend(now: HistoryEntry, history: Sequence[HistoryEntry]) -> Trend:
    earlier = sorted((h for h in history if h.drill == now.drill and _same_target(h, now)
                      and h.run_dir != now.run_dir and h.started_utc < now.started_utc), key=lambda h: h.started_utc)
    return Trend(runs=[*earlier[-KEEP:], now], regressions=regressions(earlier[-1], now) if earlier else [])


def _same_target(earlier: HistoryEntry, now: HistoryEntry) -> bool:
    """A drill against the Docker staging is no trend of the same drill against the sandbox. Entries written
    before the target's name was kept are matched by the target's kind."""
    if earlier.target and now.target:
        return earlier.target == now.target
    return earlier.target_kind == now.target_kind


def regressions(previous: HistoryEntry, now: HistoryEntry) -> list[str]:
    found = []
    if now.score < previous.score:
        found.append(f"score fell from {previous.score:g} to {now.score:g}")
    if now.worst_rto_s is not None and previous.worst_rto_s and now.worst_rto_s > previous.worst_rto_s * RTO_REGRESSION:
        found.append(f"worst RTO rose from {previous.worst_rto_s:g} s to {now.worst_rto_s:g} s")
    if now.worst_rpo_s is not None and previous.worst_rpo_s is not None and now.worst_rpo_s > previous.worst_rpo_s:
        found.append(f"worst RPO rose from {previous.worst_rpo_s:g} s to {now.worst_rpo_s:g} s")
    return found
