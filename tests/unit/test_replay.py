"""A measurement folder analysed again from its raw files gives the figures the run gave: the round
trip behind `drillkit report RUN_DIR`."""

from __future__ import annotations

import json

from drillkit.measure import replay
from drillkit.measure.ledger import Write
from drillkit.measure.raw import SAMPLE_COLUMNS, WRITE_COLUMNS, sample_row, write_row
from drillkit.measure.samples import CsvLog
from tests.unit.synthetic import OBJECTIVES, SETTINGS, at, fault, run, user_path


def _write_folder(folder, samples, writes, faults, rollbacks, ended):
    for name, columns, rows in (("samples.csv", SAMPLE_COLUMNS, [sample_row(s) for s in samples]),
                                ("ledger.csv", WRITE_COLUMNS, [write_row(w) for w in writes])):
        log = CsvLog(folder / name, columns)
        for row in rows:
            log.add(row)
        log.close()
    (folder / "stored.json").write_text(json.dumps({"stored": {"w": [1, 2]}}))
    facts = replay.record(origin=at(0), ended=at(ended), stopped="stable", faults=faults, rollbacks=rollbacks,
                          settings=SETTINGS, writers=["w"])
    (folder / replay.RECORD_FILE).write_text(json.dumps(facts))


def test_a_folder_analysed_again_gives_the_figures_the_run_gave(tmp_path):
    samples = user_path(0, 30) + user_path(30, 36, ok=False) + user_path(36, 60)
    writes = [Write("w", 1, at(10), at(10), at(10.01)), Write("w", 2, at(29), at(29), at(29.01)),
              Write("w", 3, at(29.5), at(29.5), at(29.51))]
    faults, rollbacks = [fault(30, issued_before=0.2)], (at(40), at(41))
    _write_folder(tmp_path, samples, writes, faults, rollbacks, ended=60)
    measured = run(samples, faults=faults, ended=60, writes=writes, stored={"w": {1, 2}}, rollbacks=(40, 41))
    again = replay.reanalyze(tmp_path, OBJECTIVES)
    assert again == measured
    assert again.rpo.lost == 1 and again.timelines[0].status == "measured"


def test_leader_changes_keep_the_first_poll_and_each_change():
    polls = [(1.0, "pg-a"), (1.1, "pg-a"), (1.2, ""), (1.3, "pg-b"), (1.4, "pg-b")]
    assert replay.leader_changes(polls) == [(1.0, "pg-a"), (1.2, ""), (1.3, "pg-b")]
