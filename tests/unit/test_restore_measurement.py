"""A restore measured from its record and the ledger, on hand-built records: T0 = [100, 101] on the
monotonic clock, 2026-11-26T10:00:00+00:00 at T0 issued; ledger writes acknowledged every second."""

from __future__ import annotations

from pathlib import Path

from drillkit import durable
from drillkit.measure.ledger import Write
from drillkit.measure.restore import read_records, record_file, restores
from drillkit.measure.samples import FaultEvent
from drillkit.model.backup import PHASES, PhaseMark, RestoreCheck, RestoreRecord
from tests.unit.synthetic import ORIGIN, user_path
from tests.unit.synthetic import run as analysed

T0_UTC = "2026-11-26T10:00:00+00:00"


def acked(seq: int, at: float, writer: str = "w") -> Write:
    return Write(writer, seq, at - 0.02, at - 0.02, at)


def timed_out(seq: int, at: float, writer: str = "w") -> Write:
    return Write(writer, seq, at - 0.02, at - 0.02, None, "timeout")


def record(**changes) -> RestoreRecord:
    """A finished point-in-time restore to T0 issued, serving between 160 and 161."""
    phases = [PhaseMark(name=name, lower=110.0 + 12 * n, upper=111.0 + 12 * n) for n, name in enumerate(PHASES)]
    fields = dict(activity="restore_point_in_time", mode="point in time", t0_issued=100.0, t0_confirmed=101.0,
                  t0_utc=T0_UTC, recovery_target=T0_UTC, backup_id="20261126T095900", backup_chain=["F", "I1"],
                  phases=phases, checks=[RestoreCheck(name="pg_verifybackup", ok=True, detail="verified")],
                  restored_ledger={"w": list(range(0, 10))}, restored_bytes=1000, finished=True)
    return RestoreRecord(**(fields | changes))


WRITES = [acked(n, 91.0 + n) for n in range(20)]  # acked at 91 … 110; seq 9 at 100 (on the target)


def measure(rec: RestoreRecord, writes: list[Write] = WRITES):
    return restores([rec], writes, [])[0]


def test_the_rto_runs_from_t0_to_serving_with_t0_as_an_interval():
    measured = measure(record())
    assert measured.status == "measured"
    assert (measured.rto.lower, measured.rto.upper) == (158.0 - 101.0, 159.0 - 100.0)


def test_each_phase_is_placed_after_t0():
    measured = measure(record())
    assert [p.name for p in measured.phases] == list(PHASES)
    assert (measured.phases[0].after_t0.lower, measured.phases[0].after_t0.upper) == (9.0, 11.0)


def test_a_restore_holding_every_write_acknowledged_by_the_target_loses_nothing():
    measured = measure(record())
    assert (measured.rpo.lost, measured.rpo.seconds, measured.rpo.acknowledged) == (0, 0.0, 10)


def test_a_write_acknowledged_before_the_target_and_missing_is_lost():
    measured = measure(record(restored_ledger={"w": [0, 1, 2, 3, 4, 5, 6]}))
    assert measured.rpo.lost == 3 and measured.rpo.lost_sample == [("w", 7), ("w", 8), ("w", 9)]
    assert measured.rpo.seconds == 3.0      # the target − 97, the newest write kept before the loss


def test_a_write_that_timed_out_before_the_target_is_never_lost():
    writes = [*WRITES[:9], timed_out(9, 100.0)]
    measured = measure(record(restored_ledger={"w": list(range(9))}), writes)
    assert measured.rpo.lost == 0 and measured.rpo.indeterminate == 1


def test_a_write_sent_before_the_target_but_acknowledged_after_it_is_never_lost():
    straddling = Write("w", 10, 99.9, 99.9, 100.5)
    measured = measure(record(), [*WRITES[:10], straddling])
    assert measured.rpo.lost == 0 and measured.rpo.indeterminate == 1


def test_writes_sent_after_the_target_are_expected_absent_and_reported_when_present():
    assert (measure(record()).after_target_present, measure(record()).after_target_absent) == (0, 10)
    overshot = measure(record(restored_ledger={"w": list(range(12))}))
    assert (overshot.after_target_present, overshot.after_target_absent) == (2, 8)
    assert overshot.rpo.unexpected == 0     # present after the target is reported, not "never sent"


def test_the_restored_data_is_as_old_as_the_newest_write_the_copy_holds_before_t0():
    assert measure(record()).newest_recovered_before_t0_s == 0.0          # seq 9, acked at 100
    assert measure(record(restored_ledger={"w": [0, 1, 2]})).newest_recovered_before_t0_s == 7.0


def test_a_restore_from_backups_alone_loses_the_writes_between_the_backup_end_and_t0():
    rec = record(mode="backups only", recovery_target="end of the newest backup",
                 backup_end_utc="2026-11-26T09:59:55+00:00", restored_ledger={"w": [0, 1, 2, 3]})
    measured = measure(rec)
    assert measured.rpo.lost == 6 and measured.rpo.acknowledged == 10  # acked at 95 … 100, T0 at 100
    assert measured.rpo.seconds == 6.0                                   # T0 − the newest kept write (94)
    assert measured.newest_recovered_before_t0_s == 6.0 and measured.after_target_present == 0


def test_an_unfinished_restore_is_not_measured_and_keeps_the_phases_it_reached():
    rec = record(finished=False, phases=record().phases[:2], restored_ledger=None)
    measured = measure(rec)
    assert measured.status == "not measured" and "base backup restored" in measured.reason
    assert measured.rto is None and len(measured.phases) == 2 and measured.rpo is None


def test_a_failed_restore_is_not_measured_with_its_error():
    measured = measure(record(error="barman restore failed: exit 1", finished=True))
    assert measured.status == "not measured" and "exit 1" in measured.reason


def test_a_restore_fault_without_a_record_is_not_measured(tmp_path: Path):
    fault = FaultEvent("restore_point_in_time", "restore-to-before-t0", 120.0, 150.0)
    [judged] = restores(read_records(tmp_path), WRITES, [fault])
    assert judged.status == "not measured" and record_file("restore_point_in_time") in judged.reason


def test_an_unreadable_record_is_not_measured_and_names_its_file(tmp_path: Path):
    (tmp_path / record_file("restore_from_backups")).write_text("{not json")
    [judged] = restores(read_records(tmp_path), WRITES, [])
    assert judged.status == "not measured" and "restore-restore_from_backups.json" in judged.reason


def test_the_analysis_fills_the_measurements_restores_from_the_run_folder(tmp_path: Path):
    rec = record(t0_issued=ORIGIN + 100.0, t0_confirmed=ORIGIN + 101.0,
                 phases=[PhaseMark(name="serving", lower=ORIGIN + 160.0, upper=ORIGIN + 161.0)])
    durable.write_json(tmp_path / record_file(rec.activity), rec.model_dump(mode="json"))
    writes = [acked(n, ORIGIN + 91.0 + n) for n in range(20)]
    measurements = analysed(user_path(0, 5), ended=5, writes=writes, stored={"w": set(range(20))},
                            restore_records=read_records(tmp_path))
    [measured] = measurements.restores
    assert measured.status == "measured" and measured.rto.upper == 61.0 and measured.rpo.lost == 0


def ledger_check(measured):
    return next(c for c in measured.checks if c.name == "ledger rows match the ledger")


def test_the_copy_ledger_matches_the_ledger_when_it_holds_every_write_acknowledged_by_its_point():
    check = ledger_check(measure(record()))
    assert check.ok and "10 writes acknowledged by the point restored to, 0 of them missing" in check.detail


def test_the_copy_ledger_does_not_match_when_an_acknowledged_write_is_missing_or_a_row_was_never_sent():
    assert not ledger_check(measure(record(restored_ledger={"w": [0, 1, 2, 4, 5, 6, 7, 8, 9]}))).ok
    assert not ledger_check(measure(record(restored_ledger={"w": [*range(10), 500]}))).ok


def test_a_copy_from_backups_alone_is_matched_against_the_ledger_at_the_backup_end():
    rec = record(mode="backups only", recovery_target="end of the newest backup",
                 backup_end_utc="2026-11-26T09:59:55+00:00", restored_ledger={"w": [0, 1, 2, 3, 4]})
    assert ledger_check(measure(rec)).ok  # acked at 91 … 95: all there; later writes are the loss, not a mismatch
    short = record(mode="backups only", recovery_target="end of the newest backup",
                   backup_end_utc="2026-11-26T09:59:55+00:00", restored_ledger={"w": [0, 1, 2, 3]})
    assert not ledger_check(measure(short)).ok


def test_a_restore_from_backups_alone_of_a_backup_that_ended_after_the_loss_is_not_measured():
    """The primary was declared lost at T0: a backup that ended after T0 could not have been taken, and
    restoring it would make the RPO look better than the backups the loss left behind."""
    rec = record(mode="backups only", recovery_target="end of the newest backup",
                 backup_end_utc="2026-11-26T10:00:05+00:00", restored_ledger={"w": list(range(14))})
    measured = measure(rec)
    assert measured.status == "not measured" and "after T0" in measured.reason


def test_a_writer_whose_rows_were_never_read_from_the_copy_is_not_counted_as_lost():
    """The procedure reads the copy's rows of the writers it was told about; when it was told none (the
    probe's configuration unreadable), the copy's ledger was not compared, not found empty."""
    measured = measure(record(restored_ledger={}))
    assert measured.status == "not measured" and "'w'" in measured.reason
    assert measured.rpo is None


def test_a_copy_from_backups_alone_need_not_hold_the_writes_acknowledged_while_its_backup_ran():
    rec = record(mode="backups only", recovery_target="end of the newest backup",
                 backup_begin_utc="2026-11-26T09:59:53+00:00", backup_end_utc="2026-11-26T09:59:55+00:00",
                 restored_ledger={"w": [0, 1, 2]})
    assert ledger_check(measure(rec)).ok  # acked at 91 … 93 by the begin: there; 94, 95 ran with the backup
    short = rec.model_copy(update={"restored_ledger": {"w": [0, 1]}})
    assert not ledger_check(measure(short)).ok
