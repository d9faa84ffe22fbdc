"""The trend across runs of one drill (reports/history.jsonl) and what got worse since the last one."""

from __future__ import annotations

from collections.abc import Sequence

from drillkit.model.report import Evidence, HistoryEntry, ObjectiveRow, Trend

KEEP = 7                 # earlier runs shown
RTO_REGRESSION = 1.10    # a worst RTO more than 10 % above the previous run's is flagged


def entry(*, drill: str, started_utc: str, run_dir: str, status: str, score: float | None, grade: str,
          target_kind: str, rows: list[ObjectiveRow], lost_writes: int | None, evidence: Evidence,
          target: str = "") -> HistoryEntry:
    """This drill's line of the history. Its worst figures are kept only when the evidence is complete: the
    worst of the experiments that happened to run is not the drill's worst."""
    complete = evidence.verdict == "complete"
    by_name: dict[str, ObjectiveRow] = {row.name: row for row in rows}

    def worst(name: str) -> float | None:
        row = by_name.get(name)
        return row.value if complete and row is not None else None

    rto = by_name.get("RTO")
    return HistoryEntry(drill=drill, quarter=quarter(started_utc), started_utc=started_utc, run_dir=run_dir,
                        status=status, score=score, grade=grade, evidence=evidence.verdict,
                        coverage=evidence.coverage, target_kind=target_kind, target=target,
                        worst_rto_s=worst("RTO"), worst_rto_unbounded=rto is not None and rto.unbounded,
                        worst_rpo_s=worst("RPO"), worst_restore_rto_s=worst("RTO (restores)"),
                        worst_restore_rpo_s=worst("RPO (restores)"),
                        lost_writes=lost_writes if complete else None)


def quarter(started_utc: str) -> str:
    try:
        return f"{started_utc[:4]}-Q{(int(started_utc[5:7]) - 1) // 3 + 1}"
    except ValueError:
        return ""


def trend(now: HistoryEntry, history: Sequence[HistoryEntry]) -> Trend:
    """Every earlier run is shown; regressions compare complete drills only, with the last complete one."""
    earlier = sorted((h for h in history if h.drill == now.drill and _same_target(h, now)
                      and h.run_dir != now.run_dir and h.started_utc < now.started_utc), key=lambda h: h.started_utc)
    runs = [*earlier[-KEEP:], now]
    if not now.comparable:
        return Trend(runs=runs, note=f"not compared with earlier drills: this one is {now.status} with "
                                     f"{now.evidence or 'unknown'} evidence")
    baseline = [h for h in earlier if h.comparable]
    if not baseline:
        return Trend(runs=runs, note="no earlier complete drill of this target to compare with")
    return Trend(runs=runs, regressions=regressions(baseline[-1], now))


def _same_target(earlier: HistoryEntry, now: HistoryEntry) -> bool:
    """A drill against the Docker staging is no trend of the same drill against the sandbox. Entries written
    before the target's name was kept are matched by the target's kind."""
    if earlier.target and now.target:
        return earlier.target == now.target
    return earlier.target_kind == now.target_kind


def regressions(previous: HistoryEntry, now: HistoryEntry) -> list[str]:
    found = []
    if now.score is not None and previous.score is not None and now.score < previous.score:
        found.append(f"score fell from {previous.score:g} to {now.score:g}")
    if now.worst_rto_unbounded and not previous.worst_rto_unbounded:
        was = f"{previous.worst_rto_s:g} s" if previous.worst_rto_s is not None else "bounded"
        found.append(f"worst RTO: a fault never recovered (it was {was})")
    for label, before, after, factor in (
            ("worst RTO", previous.worst_rto_s, now.worst_rto_s, RTO_REGRESSION),
            ("worst RPO", previous.worst_rpo_s, now.worst_rpo_s, 1.0),
            ("worst restore RTO", previous.worst_restore_rto_s, now.worst_restore_rto_s, RTO_REGRESSION),
            ("worst restore RPO", previous.worst_restore_rpo_s, now.worst_restore_rpo_s, 1.0)):
        if after is not None and before is not None and after > before * factor:
            found.append(f"{label} rose from {before:g} s to {after:g} s")
    if now.lost_writes is not None and previous.lost_writes is not None and now.lost_writes > previous.lost_writes:
        found.append(f"lost writes rose from {previous.lost_writes} to {now.lost_writes}")
    return found
