"""The DSN ledger against the real sandbox: the writers INSERT straight into the database through the
app role's multi-host DSN (its password included), across a clean Patroni switchover, with the probes
carrying a bearer token. A clean switchover loses no acknowledged write; the table drillkit made is gone
after the run; and neither the token nor the password is in any file of the run folder."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
import yaml

from drillkit.measure.dsn_ledger import TABLE
from drillkit.model.measurements import Measurements
from tests.integration.conftest import ROOT, drillkit

pytestmark = pytest.mark.integration
SWITCHOVER = ROOT / "tests" / "fixtures" / "experiments" / "switchover.yaml"
TOKEN = "tok-integration-5a4b3c2d1e"


def test_a_dsn_ledger_loses_nothing_across_a_clean_switchover_and_leaves_no_table_nor_secret(
        sandbox, target_file, tmp_path):
    dsn_file = sandbox.backup_dir / "app.dsn"
    dsn = dsn_file.read_text().splitlines()[0].strip()
    password = psycopg.conninfo.conninfo_to_dict(dsn)["password"]
    spec = yaml.safe_load(target_file.read_text()) | {
        "probes": {"token": {"env": "TEST_PROBE_TOKEN"}},
        "ledger": {"mode": "dsn", "dsn": {"file": str(dsn_file)}},
    }
    with psycopg.connect(dsn, autocommit=True) as conn:  # drillkit drops only a table it made itself
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    target = tmp_path / "target.yaml"
    target.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "run"

    started = time.monotonic()
    run = drillkit("run", str(SWITCHOVER), "--target", str(target), "--out", str(out), check=False, timeout=120,
                   env={"TEST_PROBE_TOKEN": TOKEN})
    assert run.returncode in (0, 1), f"drillkit run exited {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert time.monotonic() - started < 60

    rpo = Measurements.model_validate_json((out / "measurements.json").read_text()).rpo
    assert rpo is not None and rpo.status == "measured", rpo
    assert rpo.acknowledged >= 50 and rpo.lost == 0 and rpo.split_brain.count == 0
    assert json.loads((out / "probe-config.json").read_text())["ledger_mode"] == "dsn"
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone() == (None,)
    files = [path for path in out.rglob("*") if path.is_file()]
    assert {"journal.json", "measurements.json", "probe-config.json", "samples.csv"} <= {p.name for p in files}
    leaked = [str(p.relative_to(out)) for p in files
              if TOKEN.encode() in p.read_bytes() or password.encode() in p.read_bytes()]
    assert leaked == []
