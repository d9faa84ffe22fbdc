"""The backup policy's rules, judged on observations alone: each one can hold and can fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drillkit.backup.check import _stream_state
from drillkit.backup.judge import (
    EncryptionFindings,
    StreamState,
    Verification,
    judge_encryption,
    judge_full,
    judge_incremental,
    judge_restorable,
    judge_retention,
    judge_stream,
    judge_verified,
    judge_wal_continuity,
    restorable_point,
)
from drillkit.backup.walchain import Archive, WalName, segment_name
from drillkit.model.backup import BackupInfo, BackupPolicy

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# the sandbox's policy: 24h / 1h / 7d / 5m / 1h at time scale 60
POLICY = BackupPolicy(full_every="24h", incremental_every="1h", retention="7d", max_wal_lag="5m",
                      rpo="1h").scaled(60)


def backup(id_: str, ended_ago: float, kind: str = "full", status: str = "DONE", begin: int = 3, end: int = 3,
           encrypted: bool = True) -> BackupInfo:
    ended = NOW - timedelta(seconds=ended_ago)
    return BackupInfo(id=id_, kind=kind, status=status, begin_utc=(ended - timedelta(seconds=1)).isoformat(),
                      end_utc=ended.isoformat(), begin_wal=segment_name(WalName(1, begin)),
                      end_wal=segment_name(WalName(1, end)), encrypted=encrypted)


def archive(first: int, last: int, missing: tuple[int, ...] = ()) -> Archive:
    return Archive.of(segment_name(WalName(1, n)) for n in range(first, last + 1) if n not in missing)


def test_the_policy_scaled_by_60_allows_a_full_every_24_minutes():
    assert POLICY.full_every == 1440 and POLICY.incremental_every == 60 and POLICY.max_wal_lag == 5


# -- newest full / incremental ------------------------------------------------------------------------

def test_a_full_younger_than_its_interval_holds():
    item = judge_full([backup("F1", 100)], NOW, POLICY)
    assert item.ok and "100.0 s" in item.observed


def test_a_full_older_than_its_interval_fails_with_its_age():
    item = judge_full([backup("F1", 1500)], NOW, POLICY)
    assert not item.ok and "1500.0 s old" in item.reason and "1440.0 s" in item.reason


def test_no_backup_at_all_fails_both_ages():
    assert "no full backup at all" in judge_full([], NOW, POLICY).reason
    assert "no backup at all" in judge_incremental([], NOW, POLICY).reason


def test_a_failed_backup_does_not_count():
    backups = [backup("F1", 1500), backup("F2", 10, status="FAILED")]
    assert not judge_full(backups, NOW, POLICY).ok


def test_an_incremental_younger_than_its_interval_holds_while_the_full_is_older():
    backups = [backup("F1", 1000), backup("I1", 30, kind="incremental")]
    item = judge_incremental(backups, NOW, POLICY)
    assert item.ok and "I1 (incremental)" in item.observed


def test_an_incremental_older_than_its_interval_fails():
    backups = [backup("F1", 1000), backup("I1", 61, kind="incremental")]
    assert not judge_incremental(backups, NOW, POLICY).ok


# -- WAL continuity ---------------------------------------------------------------------------------

def test_an_archive_unbroken_from_the_oldest_backup_holds():
    item = judge_wal_continuity([backup("F1", 500, begin=4), backup("F2", 100, begin=8)], archive(4, 12))
    assert item.ok and "000000010000000000000004" in item.observed


def test_a_gap_after_the_oldest_backup_fails_naming_the_first_missing_segment():
    item = judge_wal_continuity([backup("F1", 500, begin=4), backup("F2", 100, begin=8)], archive(4, 12, (6, 7)))
    assert not item.ok and "000000010000000000000006 is missing" in item.reason and "2 missing" in item.reason


def test_continuity_without_a_backup_fails():
    assert not judge_wal_continuity([], archive(1, 3)).ok


# -- verification -----------------------------------------------------------------------------------

def test_every_kept_backup_verified_holds_and_says_how():
    backups = [backup("F1", 100), backup("P1", 50, encrypted=False)]
    item = judge_verified(backups, [Verification("F1", True, "decrypted, then pg_verifybackup"),
                                    Verification("P1", True, "barman verify-backup")])
    assert item.ok and "F1: verified (decrypted, then pg_verifybackup)" in item.observed


def test_a_corrupted_backup_fails_naming_its_id():
    item = judge_verified([backup("F1", 100), backup("F2", 50)],
                          [Verification("F1", True, "x"), Verification("F2", False, "x", "checksum mismatch")])
    assert not item.ok and "backup F2: checksum mismatch" in item.reason and "F1" not in item.reason


def test_a_backup_left_unverified_fails():
    item = judge_verified([backup("F1", 100)], [])
    assert not item.ok and "F1" in item.reason


# -- the restorable point ---------------------------------------------------------------------------

def times(first: int, last: int, newest_ago: float) -> dict[str, float]:
    return {segment_name(WalName(1, n)): (NOW - timedelta(seconds=newest_ago + last - n)).timestamp()
            for n in range(first, last + 1)}


def test_the_restorable_point_is_the_end_of_the_continuous_archive():
    backups = [backup("F1", 300, begin=4, end=4)]
    point, how = restorable_point(backups, archive(4, 9), times(4, 9, 20))
    assert point == NOW - timedelta(seconds=20) and "000000010000000000000009" in how
    assert judge_restorable(point, how, NOW, POLICY).ok


def test_a_gap_after_the_newest_backup_ends_the_restorable_archive_before_it():
    point, how = restorable_point([backup("F1", 300, begin=4, end=4)], archive(4, 9, (6,)), times(4, 9, 20))
    assert point == NOW - timedelta(seconds=20 + 4)  # segment 5, archived 4 s before segment 9


def test_when_the_newest_backups_wal_is_missing_the_point_is_that_backups_end():
    point, how = restorable_point([backup("F1", 30, begin=4, end=5)], archive(4, 4), times(4, 4, 2))
    assert point == NOW - timedelta(seconds=30) and "not all archived" in how


def test_a_restorable_point_older_than_the_rpo_fails():
    point = NOW - timedelta(seconds=61)
    item = judge_restorable(point, "end of backup F1", NOW, POLICY)
    assert not item.ok and "61.0 s old" in item.reason and "60.0 s" in item.reason


def test_nothing_restorable_fails():
    assert not judge_restorable(None, "no finished backup", NOW, POLICY).ok


# -- the WAL stream ---------------------------------------------------------------------------------

def test_a_connected_stream_within_the_allowed_lag_holds():
    item = judge_stream(StreamState("127.0.10.1:5432", True, True, lag=0.2, lag_bytes=120, how="write_lag"), POLICY)
    assert item.ok and "connected to the leader 127.0.10.1:5432" in item.observed


def test_a_connected_stream_lagging_more_than_allowed_fails():
    item = judge_stream(StreamState("L", True, True, lag=7.5, how="write_lag"), POLICY)
    assert not item.ok and "lags 7.5 s" in item.reason


def test_a_stream_stopped_longer_than_the_allowed_lag_fails_naming_why():
    item = judge_stream(StreamState("L", True, False, stopped_for=12.0), POLICY)
    assert not item.ok and "the WAL stream is stopped" in item.reason and "12.0 s" in item.reason


def test_a_stream_stopped_briefly_is_within_the_allowed_lag():
    assert judge_stream(StreamState("L", True, False, stopped_for=2.0), POLICY).ok


def test_a_missing_slot_fails():
    assert "no slot" in judge_stream(StreamState("L", False, False), POLICY).reason


def test_an_unmeasured_lag_fails():
    assert not judge_stream(StreamState("L", True, True), POLICY).ok


# -- encryption at rest -----------------------------------------------------------------------------

def findings(**changes) -> EncryptionFindings:
    base = dict(marker_segment="000000010000000000000009", marker_archived=True, files_searched=40,
                encrypted_checked=30, plaintext_by_design=["backup_manifest ×2"])
    return EncryptionFindings(**{**base, **changes})


def test_an_encrypted_store_without_the_marker_holds_and_says_what_stays_plain():
    item = judge_encryption(findings())
    assert item.ok and "plaintext by Barman's design" in item.observed


def test_a_marker_found_anywhere_fails_naming_the_file():
    item = judge_encryption(findings(plaintext_hits=["streaming/000000010000000000000009 (raw)"]))
    assert not item.ok and "streaming/000000010000000000000009 (raw)" in item.reason


def test_a_file_that_is_not_openpgp_fails_naming_it():
    item = judge_encryption(findings(not_encrypted=["base/X/data/base.tar.gz"]))
    assert not item.ok and "base/X/data/base.tar.gz" in item.reason


def test_a_marker_never_archived_fails():
    assert "was not archived" in judge_encryption(findings(marker_archived=False)).reason


def test_an_empty_store_fails():
    assert not judge_encryption(findings(encrypted_checked=0)).ok


# -- retention --------------------------------------------------------------------------------------

def test_a_catalogue_reaching_back_the_window_holds():
    item = judge_retention([backup("F0", 10_081), backup("F1", 100)], NOW, 20_000, POLICY)
    assert item.ok and "window covered" in item.observed


def test_a_young_catalogue_has_not_yet_filled_the_window():
    item = judge_retention([backup("F1", 300)], NOW, 400, POLICY)
    assert item.ok and item.observed.startswith("window not yet filled (oldest point 300.0 s old")


def test_a_catalogue_that_lost_its_old_backups_fails():
    item = judge_retention([backup("F1", 300)], NOW, 50_000, POLICY)
    assert not item.ok and "only 300.0 s" in item.reason


def test_retention_without_backups_fails():
    assert not judge_retention([], NOW, None, POLICY).ok


# -- how the stream's state is read from the leader's answer -----------------------------------------

def test_a_slot_the_leader_does_not_have_is_a_missing_slot():
    assert not _stream_state(None, "L", None, None, None, None, False).slot_exists


def test_an_inactive_slot_is_a_stopped_stream_with_its_inactive_time():
    state = _stream_state(None, "L", False, 12.5, None, None, False)
    assert state.slot_exists and not state.connected and state.stopped_for == 12.5


def test_a_receiver_written_up_to_the_leaders_position_has_no_lag():
    state = _stream_state(None, "L", True, None, 0, None, True)
    assert state.lag == 0.0 and state.lag_bytes == 0


def test_a_receiver_behind_the_leader_lags_by_its_write_lag():
    state = _stream_state(None, "L", True, None, 8192, 0.25, True)
    assert state.lag == 0.25 and "write_lag" in state.how


def test_a_server_age_unknown_to_the_file_system_is_not_guessed_from_the_backups_retention_kept(monkeypatch,
                                                                                               tmp_path):
    """Without the storage folder's birth time, the oldest backup still kept says nothing about how long the
    server has run: it is exactly what a too-eager retention deletes. Guessing from it made a catalogue
    that lost its old backups read "window not yet filled", which always holds."""
    from types import SimpleNamespace

    from drillkit.backup import check

    monkeypatch.setattr(check, "_birth_time", lambda path: None)
    barman = SimpleNamespace(storage_dir=tmp_path, wal_files=lambda: [])
    kept = [backup("F1", 300)]                       # the older ones deleted too early
    item = judge_retention(kept, NOW, check._running_for(barman, kept), POLICY)
    assert not item.ok
