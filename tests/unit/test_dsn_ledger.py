"""The DSN ledger's writes: acknowledged only when the autocommit INSERT returned, otherwise indeterminate
with a note that says why. psycopg's connection is replaced by fakes: no database runs here."""

from __future__ import annotations

import asyncio
import time

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
