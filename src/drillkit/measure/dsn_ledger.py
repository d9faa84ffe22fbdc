"""The DSN ledger (`ledger.mode: dsn`): the ledger writers INSERT (writer, seq) straight into a table
`drillkit_ledger` of the target's database, for a staging whose app has no ledger endpoint.

It measures the database's durability (what a failover keeps of the commits it acknowledged), not the
app's write path: the app is not on the way. The DSN names every member with
target_session_attrs=read-write, so each write finds the current primary by itself.

Each write opens a connection of its own (like the probers: a failover must not leave later writes
hostage to a dead connection) and is acknowledged only when its autocommit INSERT returned, that is when
COMMIT returned. Anything else leaves it indeterminate, with a note: "timeout", "connect" (no session
could be opened), "sqlstate XXXXX" (the server refused it), "reset" (the connection broke mid-INSERT),
"task died". The read-back SELECTs each writer's seqs from the primary, retried until it answers.

The table's life, from the measuring parent: `prepare` creates it before the first write (a failure is
the ledger "not measured", said before any fault); `clean_up` after the read-back deletes the session's
rows, and DROPs the table only when the session created it and no other rows are left: a table that was
there before belongs to someone else (a team that made it for a role that may not create tables), and
one this session made may have been joined meanwhile by another session on the same database (another
target's run), whose read-back would find none of its writes and count every acknowledged one lost.
Writer ids carry a random part per session, so rows of different sessions never mix.

Every connection asks for target_session_attrs=read-write, whatever the DSN says, and the read-back
checks that its server is not in recovery: a replica's copy lacks the newest acknowledged writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

import psycopg
from psycopg.conninfo import conninfo_to_dict

from drillkit import redaction
from drillkit.measure.raw import Write

logger = logging.getLogger("drillkit")

DSN_ENV = "DRILLKIT_LEDGER_DSN"  # the DSN reaches the probe process only through its environment
TABLE = "drillkit_ledger"
CREATE = (f"CREATE TABLE IF NOT EXISTS {TABLE} (writer text, seq bigint, at timestamptz DEFAULT now(), "
          "PRIMARY KEY (writer, seq))")
INSERT = f"INSERT INTO {TABLE} (writer, seq) VALUES (%s, %s)"
SELECT = f"SELECT writer, seq FROM {TABLE} WHERE writer = ANY(%s)"
SETUP_TIMEOUT_S = 10  # libpq's connect_timeout, per member, for the parent's CREATE and DROP
CLOSE_TIMEOUT_S = 1.0
TABLE_PRIVILEGES = ("INSERT", "SELECT", "DELETE")  # the writes, the read-back, the clean-up of a table not ours
PRIMARY = "read-write"  # target_session_attrs, over the DSN's own: only a primary takes or tells writes


def remember(dsn: str) -> str:
    """DSN, with it and its password masked in every file and log of this process from now on."""
    redaction.remember(dsn)
    with contextlib.suppress(psycopg.ProgrammingError):
        password = conninfo_to_dict(dsn).get("password")
        if password:
            redaction.remember(str(password))
    return dsn


def malformed(dsn: str) -> str | None:
    """Why DSN is not a libpq connection string (None: it is), never quoting it: libpq's own message
    quotes the word it stumbled on, which may be part of the password, and no mask knows that part."""
    try:
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the DSN is malformed: not a libpq connection string (libpq's message is withheld: it quotes the DSN)"
    return None


# -- the measuring parent: the table ---------------------------------------------------------------


def prepare(dsn: str) -> bool:
    """Create the ledger table if it is missing; whether this call created it. psycopg.Error when the
    database cannot be reached or refuses."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=SETUP_TIMEOUT_S, target_session_attrs=PRIMARY) as conn:
        existed = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()
        conn.execute(CREATE)
    return not (existed and existed[0])


def problem(dsn: str) -> str | None:
    """Why the ledger could not be written through DSN (None: it can): checked before any fault."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=SETUP_TIMEOUT_S, target_session_attrs=PRIMARY) as conn:
        row = conn.execute(
            "SELECT pg_is_in_recovery(), to_regclass(%s) IS NOT NULL, "
            "coalesce(has_schema_privilege(current_schema(), 'CREATE'), false)", (TABLE,)).fetchone()
        in_recovery, exists, may_create = row if row else (True, False, False)
        # one privilege a call: has_table_privilege of a list is true when ANY of them is held
        lacking = [p for p in TABLE_PRIVILEGES if exists and not _holds(conn, p)]
    if in_recovery:
        return "the DSN reached a replica: name every member with target_session_attrs=read-write"
    if exists:
        return f"the role lacks {', '.join(lacking)} on {TABLE}" if lacking else None
    return None if may_create else f"the role may not create {TABLE} in its schema (nor does it exist)"


def _holds(conn: psycopg.Connection, privilege: str) -> bool:
    row = conn.execute("SELECT has_table_privilege(%s, %s)", (TABLE, privilege)).fetchone()
    return bool(row and row[0])


def clean_up(dsn: str, writers: list[str], *, created: bool) -> str:
    """Delete the session's rows; drop the table too when the session CREATED it and no other session's
    rows are in it (locked meanwhile, so that none joins between the count and the drop); what was done."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=SETUP_TIMEOUT_S, target_session_attrs=PRIMARY) as conn, \
            conn.transaction():
        deleted = conn.execute(f"DELETE FROM {TABLE} WHERE writer = ANY(%s)", (writers,)).rowcount
        if not created:
            return f"deleted the session's {deleted} rows of {TABLE}, which was there before it"
        conn.execute(f"SET LOCAL lock_timeout = '{SETUP_TIMEOUT_S}s'")  # a busy table is kept, not waited on
        conn.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        row = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        others = row[0] if row else 0
        if others:
            return (f"deleted the session's {deleted} rows of {TABLE}; kept the table, which holds "
                    f"{others} rows of another session")
        conn.execute(f"DROP TABLE {TABLE}")
    return f"dropped {TABLE}"


# -- the probe process: writes and read-back --------------------------------------------------------


async def write_once(dsn: str, writer: str, seq: int, intended: float, timeout: float) -> Write:
    """One sequenced INSERT on a connection of its own, due at INTENDED, given up TIMEOUT after it."""
    sent: float | None = None
    acked_at, note, phase = None, "", "connect"
    conn: psycopg.AsyncConnection | None = None
    try:
        async with asyncio.timeout(max(intended + timeout - time.monotonic(), 0.001)):
            sent = time.monotonic()
            conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=connect_timeout(timeout),
                                                         target_session_attrs=PRIMARY)
            phase = "insert"
            await conn.execute(INSERT, (writer, seq))
        acked_at = time.monotonic()  # the autocommit INSERT returned: COMMIT returned
    except Exception as exc:  # noqa: BLE001 - every failure is a note on an indeterminate write
        note = classify(exc, phase)
    finally:
        if conn is not None:
            await _close(conn)
    return Write(writer, seq, intended, sent, acked_at, note)


def classify(exc: BaseException, phase: str) -> str:
    """Why a write is indeterminate: the note for EXC, raised while in PHASE ("connect" or "insert")."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        return f"sqlstate {sqlstate}"
    if phase == "connect":
        return "connect"
    if isinstance(exc, psycopg.OperationalError):
        return "reset"
    return type(exc).__name__


def connect_timeout(timeout: float) -> int:
    """libpq's connect_timeout in whole seconds (it takes no less than 2)."""
    return max(2, math.ceil(timeout))


async def read_back(dsn: str, writers: list[str], timeout_s: float) -> dict[str, list[int]]:
    """Each writer's stored seqs, SELECTed from the primary; retried until it answers or TIMEOUT_S passes."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        try:
            return await _select(dsn, writers)
        except NotPrimary as exc:
            last = str(exc)
        except psycopg.Error as exc:
            last = classify(exc, "connect")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the ledger table {TABLE} could not be read back within {timeout_s:.0f} s "
                               f"(last: {last})")
        await asyncio.sleep(1.0)


class NotPrimary(Exception):
    """The read-back reached a server in recovery: its copy may lack acknowledged writes."""


async def _select(dsn: str, writers: list[str]) -> dict[str, list[int]]:
    stored: dict[str, list[int]] = {writer: [] for writer in writers}
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=5,
                                                     target_session_attrs=PRIMARY) as conn:
        recovering = await (await conn.execute("SELECT pg_is_in_recovery()")).fetchone()
        if recovering is None or recovering[0]:
            raise NotPrimary("a replica answered")
        try:
            cursor = await conn.execute(SELECT, (writers,))
        except psycopg.errors.UndefinedTable:
            # The session saw the table on the primary before it wrote; a primary without it was promoted
            # from a replica that never replayed its creation, so every row written into it was lost too.
            logger.warning("DSN ledger: the primary has no table %s: its creation was lost with the rows "
                           "written into it", TABLE)
            return stored
        for writer, seq in await cursor.fetchall():
            stored[writer].append(int(seq))
    return {writer: sorted(seqs) for writer, seqs in stored.items()}


async def _close(conn: psycopg.AsyncConnection) -> None:
    """A dead server must not hold the slot's task: closing is bounded and its failure ignored."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await conn.close()
