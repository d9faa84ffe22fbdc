"""The Feed Hub database: its role, database and tables, applied by the sandbox after bootstrap."""

from __future__ import annotations

import psycopg
from psycopg import sql

TABLES = """
CREATE TABLE IF NOT EXISTS items (
    id          bigserial PRIMARY KEY,
    tenant      text        NOT NULL,
    title       text        NOT NULL,
    body        text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS items_created_at ON items (created_at DESC);

-- One row per acknowledged write of a drill's ledger writer: the ground truth for RPO.
CREATE TABLE IF NOT EXISTS ledger (
    writer      text        NOT NULL,
    seq         bigint      NOT NULL,
    written_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (writer, seq)
);

-- /healthz writes here: an app is healthy only when it can write to the primary.
CREATE TABLE IF NOT EXISTS heartbeat (
    app         text        PRIMARY KEY,
    beat_at     timestamptz NOT NULL
);
"""


def create_database(admin_dsn: str, *, database: str, owner: str, password: str) -> None:
    """Create the app's login role and database, idempotently."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(password)
            )
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(owner)
                )
            )


def create_tables(app_dsn: str) -> None:
    with psycopg.connect(app_dsn, autocommit=True) as conn:
        conn.execute(TABLES)
