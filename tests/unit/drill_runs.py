"""Drill runs built by hand from the models, for scoring and report tests: a healthy failover that
passes everything, and small changes to it. Times are seconds since the session's origin."""

from __future__ import annotations

from drillkit.model.backup import BackupInfo, CheckItem, PolicyCheck, RestoreCheck
from drillkit.model.measurements import (
    Bounds,
    Budget,
    FaultMark,
    FaultTimeline,
    Incident,
    Instrument,
    Measurements,
    ProberHealth,
    Restore,
    RestorePhase,
    Rpo,
    SecondPoint,
    Sli,
    Span,
)
from drillkit.model.result import DrillRun, RunRecord

T0 = 30.2            # the fault confirmed
BAD = range(31, 56)  # the seconds users were served badly


def fault(**update) -> FaultMark:
    return FaultMark(fault="kill_primary", activity="kill-primary", issued=30.0, confirmed=T0).model_copy(
        update=update)


def timeline(**update) -> FaultTimeline:
    return FaultTimeline(fault=fault(), status="measured", incident=0, rto=Bounds(lower=25.0, upper=28.0),
                         detect_after_t0=0.4, promoted_after_t0=20.0, first_ok_after_t0=24.5,
                         stable_after_t0=27.5, rollbacks_started_after_t0=40.0, rollbacks_ended_after_t0=42.0,
                         recovery_mode="before rollbacks").model_copy(update=update)


def incident(**update) -> Incident:
    return Incident(start=30.6, end=58.2, recovery=Bounds(lower=55.0, upper=58.2), first_ok=54.7,
                    bad_requests=250, phase="method", attributed_to="kill-primary",
                    attribution="began 0.4 s after kill-primary was confirmed",
                    budget=Budget(availability=0.0096, errors=0.004, latency=0.002)).model_copy(update=update)


def user_path(**update) -> Sli:
    return Sli(status="measured", requests=1200, succeeded=950, fast=940, timeouts=30,
               availability=950 / 1200, error_rate=250 / 1200, latency_sli=940 / 1200,
               p50_ms=8.0, p95_ms=40.0, p99_ms=120.0).model_copy(update=update)


def series(bad=BAD, seconds: int = 120, degraded=()) -> list[SecondPoint]:
    def state(t: int) -> str:
        return "bad" if t in bad else "degraded" if t in degraded else "good"

    return [SecondPoint(t=t, scheduled=10, answered=10, ok=0.0 if t in bad else 1.0,
                        p95_ms=1500.0 if t in bad else 40.0, state=state(t)) for t in range(seconds)]


def instrument(**update) -> Instrument:
    prober = ProberHealth(name="global/write_read", interval_s=0.1, scheduled=1200, sent=1200, answered=1170,
                          lag_p50_ms=0.2, lag_p99_ms=1.1, lag_max_ms=3.0)
    return Instrument(probers=[prober]).model_copy(update=update)


def rpo(**update) -> Rpo:
    return Rpo(status="measured", seconds=0.0, attempted=600, acknowledged=590, indeterminate=10).model_copy(
        update=update)


RESTORE_PHASES = {"restore started": (0.2, 0.5), "base backup restored": (30.0, 31.0), "WAL replayed": (60.0, 61.5),
                  "verified": (80.0, 81.0), "serving": (95.0, 97.5)}
RESTORE_CHECKS = {"pg_verifybackup": "every file matches the backup manifest",
                  "WAL chain continuous": "no gap from the base backup to the target",
                  "marker before the target present": "marker 17 found", "marker after the target absent":
                  "marker 18 absent", "row counts match the ledger": "ledger 300 rows, as the ledger expects"}


def restore(**update) -> Restore:
    """A point-in-time restore that served 97.5 s (at most) after the destructive change, proving everything."""
    return Restore(activity="bad-migration-restore", mode="point in time", status="measured",
                   recovery_target="2026-11-20T10:00:30+00:00", backup_chain=["20261120T095500"],
                   rto=Bounds(lower=95.0, upper=97.5),
                   phases=[RestorePhase(name=name, after_t0=Bounds(lower=lo, upper=hi))
                           for name, (lo, hi) in RESTORE_PHASES.items()],
                   checks=[RestoreCheck(name=name, ok=True, detail=detail) for name, detail in RESTORE_CHECKS.items()],
                   rpo=rpo(seconds=0.4, attempted=320, acknowledged=312, indeterminate=8, recovered=300),
                   newest_recovered_before_t0_s=0.4, after_target_absent=12, restored_bytes=52_000_000,
                   ).model_copy(update=update)


POLICY_ITEMS = {"newest full": "newest full 3 min 10 s old (allowed 24 min)",
                "newest incremental": "newest incremental 41 s old (allowed 60 s)",
                "WAL continuity": "no gap from 000000010000000000000003 to now",
                "backups verified": "4 of 4 backups verified", "restorable point": "newest restorable point 2 s ago",
                "WAL stream": "streaming, lag 0.3 s (allowed 5 s)",
                "encryption at rest": "marker absent from 211 files of the backup storage"}


def policy_check(**update) -> PolicyCheck:
    """A policy check that held, in a sandbox that runs policy hours as real minutes."""
    items = [CheckItem(name=name, ok=True, observed=observed) for name, observed in POLICY_ITEMS.items()]
    backups = [BackupInfo(id="20261120T095500", kind="full", status="DONE", encrypted=True),
               BackupInfo(id="20261120T100100", kind="incremental", status="DONE", parent="20261120T095500",
                          encrypted=True)]
    return PolicyCheck(checked_utc="2026-11-20T10:29:00+00:00", policy_file="drills/backup-policy.yaml",
                       time_scale=60, server="feedhub", items=items, backups=backups,
                       newest_restorable_utc="2026-11-20T10:28:58+00:00").model_copy(update=update)


def failed_item(name: str, reason: str, check: PolicyCheck | None = None) -> PolicyCheck:
    """CHECK (the held one by default) with its item NAME failed for REASON."""
    check = check or policy_check()
    items = [item.model_copy(update={"ok": False, "reason": reason}) if item.name == name else item
             for item in check.items]
    return check.model_copy(update={"items": items})


def measurements(**update) -> Measurements:
    return Measurements(
        origin_utc="2026-11-20T10:00:00+00:00", origin_monotonic=1000.0, duration_s=120.0, stopped="stable",
        settings={"timeout_s": 2.0}, faults=[fault()], rollbacks=Span(start=70.2, end=72.2),
        instrument=instrument(), user_path=user_path(),
        budget=Budget(availability=0.0096, errors=0.004, latency=0.002), incidents=[incident()],
        timelines=[timeline()], rpo=rpo(), series=series(),
    ).model_copy(update=update)


def baseline(**update) -> Measurements:
    steady = user_path(requests=200, succeeded=200, fast=200, timeouts=0, availability=1.0, error_rate=0.0,
                       latency_sli=1.0)
    return Measurements(origin_utc="2026-11-20T09:59:00+00:00", origin_monotonic=900.0, duration_s=20.0,
                        stopped="schedule", settings={"timeout_s": 2.0}, instrument=instrument(),
                        user_path=steady, series=series(bad=(), seconds=20)).model_copy(update=update)


def record(experiment: str = "db-primary-outage", repetition: int = 1, **update) -> RunRecord:
    base = RunRecord(experiment=experiment, repetition=repetition, run_id=f"{experiment}-{repetition}",
                     status="completed", rollbacks_ok=True, steady_state_ok=True, measurements=measurements(),
                     run_dir=f"experiments/{experiment}-{repetition}")
    return base.model_copy(update=update)


def drill_run(*records: RunRecord, weights: dict[str, float] | None = None, **update) -> DrillRun:
    records = records or (record(),)
    weights = weights or {}
    names = list(dict.fromkeys(r.experiment for r in records))
    drill = {"name": "quarterly", "description": "quarterly DR drill",
             "experiments": [{"path": f"experiments/{n}.yaml", "weight": weights.get(n, 1.0)} for n in names]}
    run = DrillRun(drill=drill, objectives={}, target="drills/targets/sandbox.yaml", target_name="sandbox",
                   target_kind="sandbox", run_dir="reports/2026-Q4-test", started_utc="2026-11-20T09:58:00+00:00",
                   finished_utc="2026-11-20T10:30:00+00:00", baseline=baseline(), runs=list(records))
    return run.model_copy(update=update)
