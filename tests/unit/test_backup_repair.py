"""The bad-migration runbook's last step, "serving" = production repaired from the restored copy: the
repair must be observed in production, not assumed from a COMMIT that may have copied nothing back."""

from __future__ import annotations

import pytest

from drillkit.faults.backup import actions

COPY_ROWS = [("w", 1, None), ("w", 2, None), ("w", 3, None)]


class _Copy:
    def write_row(self, row) -> None:
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


class _Conn:
    """The restored copy (holding COPY_ROWS) or production, which still lacks MISSING of them afterwards."""

    def __init__(self, missing: int) -> None:
        self.missing = missing
        self.result: list = []
        self.rowcount = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def execute(self, query: str, params=None):
        self.result = COPY_ROWS if query.startswith("SELECT writer, seq") else [(self.missing,)]
        self.rowcount = 0
        return self

    def fetchall(self):
        return self.result

    def fetchone(self):
        return self.result[0]

    def cursor(self):
        return self

    def copy(self, statement: str):
        return _Copy()


def test_a_repair_that_left_production_without_the_copys_rows_is_not_serving(monkeypatch):
    monkeypatch.setattr(actions.psycopg, "connect", lambda dsn, **kw: _Conn(missing=3))
    with pytest.raises(Exception, match="3 ledger rows"):
        actions._repair("copy", "production")


def test_a_repair_that_put_every_row_back_says_so(monkeypatch):
    monkeypatch.setattr(actions.psycopg, "connect", lambda dsn, **kw: _Conn(missing=0))
    assert "production repaired" in actions._repair("copy", "production")


def test_a_restore_that_failed_before_its_procedure_began_is_recorded_as_not_measured(monkeypatch, tmp_path):
    """restore_point_in_time with no destructive change to restore from fails before it logs a fault or
    writes a record; without a record the run holds no restore at all, and its gates, judged as for a
    plain fault, all pass."""
    from types import SimpleNamespace

    from chaoslib.exceptions import ActivityFailed

    from drillkit.measure.restore import read_records, restores

    backups = SimpleNamespace(database=SimpleNamespace(reveal=lambda: "host=127.0.0.1"))
    env = SimpleNamespace(target=SimpleNamespace(name="sandbox", backups=backups),
                          configuration={actions.OUT_KEY: str(tmp_path)}, run_id="r1")
    monkeypatch.setattr(actions, "environment", lambda configuration: env)
    with pytest.raises(ActivityFailed):
        actions.restore_point_in_time(configuration={})
    [judged] = restores(read_records(tmp_path), [], [])
    assert judged.activity == "restore_point_in_time" and judged.status == "not measured"
    assert "no destructive change" in judged.reason
