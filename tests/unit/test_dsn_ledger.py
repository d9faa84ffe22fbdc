"""The DSN ledger's writes: acknowledged only when the autocommit INSERT returned, otherwise indeterminate
with a note that says why. psycopg's connection is replaced by fakes: no database runs here."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import SimpleNamespace

import psycopg
import pytest
from psycopg import errors

from drillkit import redaction
from drillkit.measure import dsn_ledger, ledger

DSN = "host=127.0.0.1 port=1 dbname=x user=u password=pw-7c1d9e target_session_attrs=read-write"


class FakeConnection:
    def __init__(self, insert=None, close=None) -> None:
        self.insert, self.close_with, self.executed = insert, close, []

    async def execute(self, query: str, params: tuple) -> None:
        self.executed.append((query, params))
        if self.insert is not None:
            await self.insert()

    async def close(self) -> None:
        if self.close_with is not None:
            await self.close_with()


def connecting_to(monkeypatch, connection: FakeConnection | None = None, refuse: BaseException | None = None):
    async def connect(dsn: str, **options):
        assert options["autocommit"] is True and options["connect_timeout"] >= 2
        if refuse is not None:
            raise refuse
        return connection

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", connect)


def write(timeout: float = 0.5) -> ledger.Write:
    return asyncio.run(dsn_ledger.write_once(DSN, "w0", 3, time.monotonic(), timeout))


def raising(exc: BaseException):
    async def fail() -> None:
        raise exc
    return fail


async def hang() -> None:
    await asyncio.sleep(10)


def test_a_write_whose_insert_returned_is_acknowledged_with_its_sequence(monkeypatch):
    connection = FakeConnection()
    connecting_to(monkeypatch, connection)
    done = write()
    assert done.acked_at is not None and done.note == "" and done.intended <= done.sent <= done.acked_at
    assert connection.executed == [(dsn_ledger.INSERT, ("w0", 3))]


def test_a_connection_that_will_not_close_after_the_insert_leaves_the_write_acknowledged(monkeypatch):
    connecting_to(monkeypatch, FakeConnection(close=hang))
    assert write().acknowledged


@pytest.mark.parametrize(("insert", "note"), [
    (raising(errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction")), "sqlstate 25006"),
    (raising(errors.AdminShutdown("terminating connection due to administrator command")), "sqlstate 57P01"),
    (raising(psycopg.OperationalError("server closed the connection unexpectedly")), "reset"),
    (hang, "timeout"),
])
def test_an_insert_that_did_not_return_leaves_the_write_indeterminate_and_says_why(monkeypatch, insert, note):
    connecting_to(monkeypatch, FakeConnection(insert=insert))
    done = write(timeout=0.2)
    assert (done.acked_at, done.note) == (None, note)


@pytest.mark.parametrize(("refusal", "note"), [
    (psycopg.OperationalError("connection refused"), "connect"),
    (errors.CannotConnectNow("the database system is starting up"), "sqlstate 57P03"),
])
def test_a_write_that_found_no_primary_is_indeterminate_never_lost(monkeypatch, refusal, note):
    connecting_to(monkeypatch, refuse=refusal)
    done = write()
    assert (done.acked_at, done.note) == (None, note) and done.sent is not None


def test_a_connection_attempt_that_hangs_is_a_timeout(monkeypatch):
    async def connect(dsn: str, **options):
        await asyncio.sleep(10)

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", connect)
    assert write(timeout=0.2).note == "timeout"


def test_a_real_refused_connection_is_a_connect_note():
    assert write(timeout=3).note == "connect"


def test_the_dsn_and_its_password_are_both_masked():
    dsn_ledger.remember(DSN)
    assert redaction.redact("password pw-7c1d9e failed") == f"password {redaction.MASK} failed"
    assert redaction.redact(f"dsn: {DSN}") == f"dsn: {redaction.MASK}"


def test_the_read_back_that_never_reaches_the_database_gives_up_with_a_reason(monkeypatch):
    connecting_to(monkeypatch, refuse=psycopg.OperationalError("connection refused"))
    with pytest.raises(TimeoutError, match="drillkit_ledger could not be read back within 0 s .last: connect"):
        asyncio.run(dsn_ledger.read_back(DSN, ["w0"], 0.0))


def test_a_ledger_not_measurable_is_not_measured_with_its_reason_never_absent():
    rpo = ledger.rpo([], None, t0=None, reconcile_error="the DSN ledger is not measurable: …")
    assert rpo is not None and rpo.status == "not measured" and "DSN ledger is not measurable" in rpo.reason
    assert ledger.rpo([], None, t0=None) is None  # a baseline without writers has no RPO at all


class LedgerTable:
    """Just enough of a database holding drillkit_ledger for the clean-up: rows by writer, and whether the
    table still exists. The statements are recognised by their verbs."""

    def __init__(self, rows: dict[str, int]) -> None:
        self.rows, self.dropped = dict(rows), False

    def connect(self, dsn: str, **options):
        return self

    def __enter__(self) -> LedgerTable:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def transaction(self):
        return contextlib.nullcontext()

    def execute(self, query: str, params: tuple = ()):
        verb = query.split()[0].upper()
        if verb == "DELETE":
            mine = [writer for writer in params[0] if writer in self.rows]
            deleted = sum(self.rows.pop(writer) for writer in mine)
            return SimpleNamespace(rowcount=deleted, fetchone=lambda: None)
        if verb == "DROP":
            self.dropped = True
        remaining = sum(self.rows.values())
        return SimpleNamespace(rowcount=0, fetchone=lambda: (remaining,))


def test_a_table_the_session_created_is_kept_while_another_session_still_has_rows_in_it(monkeypatch):
    table = LedgerTable({"mine-w0": 30, "other-w0": 12})
    monkeypatch.setattr(psycopg, "connect", table.connect)
    done = dsn_ledger.clean_up(DSN, ["mine-w0"], created=True)
    assert not table.dropped and table.rows == {"other-w0": 12}  # the other session can still read its writes back
    assert "30" in done and "kept" in done


def test_a_table_the_session_created_and_alone_used_is_dropped(monkeypatch):
    table = LedgerTable({"mine-w0": 30, "mine-w1": 29})
    monkeypatch.setattr(psycopg, "connect", table.connect)
    assert dsn_ledger.clean_up(DSN, ["mine-w0", "mine-w1"], created=True) == "dropped drillkit_ledger"
    assert table.dropped


def test_a_table_that_was_there_before_keeps_its_other_rows_and_loses_the_sessions(monkeypatch):
    table = LedgerTable({"mine-w0": 30, "theirs": 5})
    monkeypatch.setattr(psycopg, "connect", table.connect)
    dsn_ledger.clean_up(DSN, ["mine-w0"], created=False)
    assert not table.dropped and table.rows == {"theirs": 5}


class Replica:
    """A server in recovery that would answer the read-back with what it has replayed so far."""

    def __init__(self) -> None:
        self.options: dict = {}

    async def connect(self, dsn: str, **options):
        self.options = options
        return self

    async def __aenter__(self) -> Replica:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, query: str, params: tuple = ()):
        async def fetchone():
            return (True,)

        async def fetchall():
            return [("w0", 1)]  # seq 2 was acknowledged by the primary, not yet replayed here
        return SimpleNamespace(fetchone=fetchone, fetchall=fetchall)


def test_the_read_back_never_trusts_a_replica_whose_missing_writes_would_count_as_lost(monkeypatch):
    replica = Replica()
    monkeypatch.setattr(psycopg.AsyncConnection, "connect", replica.connect)
    with pytest.raises(TimeoutError, match="last: a replica answered"):
        asyncio.run(dsn_ledger.read_back(DSN.replace(" target_session_attrs=read-write", ""), ["w0"], 0.0))
    assert replica.options.get("target_session_attrs") == "read-write"


class PromotedWithoutTheTable(Replica):
    """A primary promoted from a replica that never replayed the ledger table's creation."""

    async def execute(self, query: str, params: tuple = ()):
        if "pg_is_in_recovery" in query:
            async def fetchone():
                return (False,)
            return SimpleNamespace(fetchone=fetchone)
        raise psycopg.errors.UndefinedTable('relation "drillkit_ledger" does not exist')


def test_a_primary_that_lost_the_ledger_table_holds_none_of_its_rows(monkeypatch):
    monkeypatch.setattr(psycopg.AsyncConnection, "connect", PromotedWithoutTheTable().connect)
    assert asyncio.run(dsn_ledger.read_back(DSN, ["w0", "w1"], 0.0)) == {"w0": [], "w1": []}


class Privileges:
    """A primary whose drillkit_ledger exists and whose role holds GRANTED privileges on it. Like
    PostgreSQL, has_table_privilege of a comma-separated list is true when ANY of them is held."""

    def __init__(self, granted: set[str]) -> None:
        self.granted = granted

    def connect(self, dsn: str, **options):
        return self

    def __enter__(self) -> Privileges:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, query: str, params: tuple = ()):
        if "pg_is_in_recovery" in query:
            return SimpleNamespace(fetchone=lambda: (False, True, False))
        asked = params[1] if len(params) > 1 else query.split("'")[1]
        held = any(privilege.strip() in self.granted for privilege in asked.split(","))
        return SimpleNamespace(fetchone=lambda: (held,))


def test_a_role_that_may_only_select_from_an_existing_table_fails_the_ledger_check(monkeypatch):
    monkeypatch.setattr(psycopg, "connect", Privileges({"SELECT"}).connect)
    found = dsn_ledger.problem(DSN)
    assert found is not None and "INSERT" in found and "DELETE" in found


def test_a_role_that_may_insert_select_and_delete_passes_the_ledger_check(monkeypatch):
    monkeypatch.setattr(psycopg, "connect", Privileges({"INSERT", "SELECT", "DELETE"}).connect)
    assert dsn_ledger.problem(DSN) is None
