"""The DSN ledger on the real staging: `drillkit run` of a clean Patroni switchover with the test target
(ledger mode dsn) measures the RPO, loses no acknowledged write, and drops the table it made."""

from __future__ import annotations

import psycopg

from drillkit.measure.dsn_ledger import TABLE
from drillkit.model.measurements import Measurements
from tests.docker.staging.conftest import ROOT, StagingTarget, drillkit

SWITCHOVER = ROOT / "tests" / "fixtures" / "experiments" / "switchover.yaml"


def test_a_clean_switchover_on_the_staging_loses_no_write_of_the_dsn_ledger_and_leaves_no_table(
        healed: StagingTarget, tmp_path):
    dsn = healed.target.ledger.dsn.reveal()
    leader = healed.leader()
    out = tmp_path / "run"

    run = drillkit("run", str(SWITCHOVER), "--target", str(healed.target_file), "--out", str(out), "--yes",
                   timeout=180)
    assert run.returncode in (0, 1), f"drillkit run exited {run.returncode}\n{run.stdout}\n{run.stderr}"

    assert healed.leader() not in (None, leader), "the switchover moved the leader"
    rpo = Measurements.model_validate_json((out / "measurements.json").read_text()).rpo
    assert rpo is not None and rpo.status == "measured", rpo
    assert rpo.acknowledged >= 20 and rpo.lost == 0 and rpo.split_brain.count == 0, rpo
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone() == (None,)
    password = psycopg.conninfo.conninfo_to_dict(dsn)["password"]
    leaked = [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    assert leaked == []
