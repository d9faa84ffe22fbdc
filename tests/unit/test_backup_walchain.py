"""WAL continuity, judged the way Barman's check-backup and WAL-G's wal-verify judge it."""

from __future__ import annotations

from drillkit.backup.walchain import Archive, WalName, continuity, parse_history, parse_segment, segment_name


def names(timeline: int, first: int, last: int) -> list[str]:
    return [segment_name(WalName(timeline, number)) for number in range(first, last + 1)]


def test_a_segment_name_round_trips_across_a_log_id_boundary():
    assert parse_segment("0000000100000001000000FF") == WalName(1, 0x1FF)
    assert segment_name(WalName(1, 0x200)) == "000000010000000200000000"


def test_partial_history_and_backup_files_are_not_segments():
    assert parse_segment("000000010000000000000014.partial") is None
    assert parse_segment("00000002.history") is None
    assert parse_segment("000000010000000000000002.00000028.backup") is None


def test_a_history_file_gives_each_parent_and_where_it_ended():
    assert parse_history("1\t0/14000120\tno recovery target specified\n\n2\t0/19000000\tx\n") == [
        (1, 0x14000120), (2, 0x19000000)]


def test_an_unbroken_archive_is_continuous_from_the_start_to_the_newest_segment():
    archive = Archive.of(names(1, 3, 9))
    run_end, gap = continuity(archive, segment_name(WalName(1, 4)))
    assert gap is None and run_end == WalName(1, 9)


def test_a_missing_segment_is_named_with_the_count_of_all_missing():
    present = [name for name in names(1, 3, 12) if not name.endswith(("06", "07", "0A"))]
    run_end, gap = continuity(Archive.of(present), segment_name(WalName(1, 3)))
    assert gap is not None and gap.first_missing == "000000010000000000000006" and gap.missing == 3
    assert run_end == WalName(1, 5)


def test_a_missing_start_is_a_gap_at_the_start():
    run_end, gap = continuity(Archive.of(names(1, 5, 8)), segment_name(WalName(1, 4)))
    assert run_end is None and gap is not None and gap.first_missing.endswith("04")


def test_a_timeline_switch_continues_on_the_new_timeline_from_the_segment_that_holds_the_switch():
    # as the spike's archive: TL1 up to 0x14 (0x14 only as .partial), TL2 from 0x14, TL3 from 0x19
    segments = names(1, 6, 0x13) + ["000000010000000000000014.partial"] + names(2, 0x14, 0x18) + names(3, 0x19, 0x19)
    histories = {2: "1\t0/14000120\tno recovery target specified\n",
                 3: "1\t0/14000120\tno recovery target specified\n2\t0/190004A0\tno recovery target specified\n"}
    archive = Archive.of(segments, histories)
    run_end, gap = continuity(archive, "000000010000000000000006")
    assert gap is None and run_end == WalName(3, 0x19)


def test_a_gap_on_the_new_timeline_names_the_new_timelines_segment():
    segments = names(1, 6, 0x13) + names(2, 0x15, 0x18)
    archive = Archive.of(segments, {2: "1\t0/14000120\tx\n"})
    _, gap = continuity(archive, "000000010000000000000006")
    assert gap is not None and gap.first_missing == "000000020000000000000014"


def test_segments_of_an_abandoned_timeline_are_not_the_newest():
    # TL1 went on to 0x16 on the old leader after TL2 forked at 0x14: the path is TL2's
    segments = names(1, 6, 0x16) + names(2, 0x14, 0x15)
    archive = Archive.of(segments, {2: "1\t0/14000120\tx\n"})
    assert archive.newest() == WalName(2, 0x15)
