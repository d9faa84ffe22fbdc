"""The Feed Hub app: Starlette over a psycopg pool whose multi-host DSN follows the primary.

Settings come from the environment: FEEDHUB_DSN (a libpq multi-host DSN with
target_session_attrs=read-write), FEEDHUB_APP (this instance's name), FEEDHUB_REGION, and
FEEDHUB_ADMIN_TOKEN (enables fault injection, see drillkit.feedhub.faults).
Every answer carries `X-Served-By`, so probes can tell which region served them, and /metrics serves
Prometheus metrics (drillkit.feedhub.metrics).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import ErrorDetails
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from drillkit.feedhub.faults import FaultInjection
from drillkit.feedhub.metrics import AppMetrics, RequestMetrics


class NewItem(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field("", max_length=10_000)
    tenant: str = Field("default", min_length=1, max_length=64)


class LedgerWrite(BaseModel):
    writer: str = Field(min_length=1, max_length=64)
    seq: int = Field(ge=0)


class Unavailable(Exception):
    """The database could not serve the request."""


def create_app() -> Starlette:
    dsn = os.environ["FEEDHUB_DSN"]
    served_by = os.environ.get("FEEDHUB_APP", "app")
    region = os.environ.get("FEEDHUB_REGION", "")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            dsn, min_size=4, max_size=10, timeout=2.0, open=False,
            check=AsyncConnectionPool.check_connection,  # drop connections a failover broke
            # Give up a reconnection after 4 s so that demand starts a fresh one: the pool's own
            # backoff doubles (1, 2, 4, 8, 16 s …) and would keep a recovered database idle.
            reconnect_timeout=4.0,
            kwargs={"autocommit": True, "row_factory": dict_row},
        )
        await pool.open(wait=False)
        app.state.pool = pool
        metrics.watch_pool(pool.get_stats)
        yield
        await pool.close(timeout=2.0)

    metrics = AppMetrics(app=served_by, region=region)
    app = Starlette(routes=ROUTES, lifespan=lifespan, exception_handlers=ERROR_HANDLERS)
    app.state.served_by = served_by
    app.state.region = region
    app.state.metrics = metrics
    app.add_middleware(FaultInjection, token=os.environ.get("FEEDHUB_ADMIN_TOKEN"))
    app.add_middleware(_ServedBy, served_by=served_by)
    app.add_middleware(RequestMetrics, metrics=metrics)  # outermost: counts what the user got, faults included
    return app


class _ServedBy:
    """Pure ASGI middleware that stamps the serving app on every response."""

    def __init__(self, app: Any, served_by: str) -> None:
        self.app = app
        self.header = (b"x-served-by", served_by.encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        async def stamped(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append(self.header)
            await send(message)

        await self.app(scope, receive, stamped)


@asynccontextmanager
async def _connection(request: Request) -> AsyncIterator[psycopg.AsyncConnection[DictRow]]:
    pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]] = request.app.state.pool
    try:
        async with pool.connection() as conn:
            try:
                yield conn
            except psycopg.errors.ReadOnlySqlTransaction:
                await conn.close()  # a demoted primary: never hand this connection out again
                raise
    except (psycopg.Error, PoolTimeout) as exc:
        raise Unavailable(f"{type(exc).__name__}: {exc}".strip()) from exc


async def _json_body(request: Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise _BadRequest(exc.errors(include_url=False, include_context=False)) from exc


class _BadRequest(Exception):
    def __init__(self, errors: list[ErrorDetails]) -> None:
        super().__init__("invalid request body")
        self.errors = errors


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


async def healthz(request: Request) -> JSONResponse:
    async with _connection(request) as conn:
        await conn.execute(
            "INSERT INTO heartbeat (app, beat_at) VALUES (%s, clock_timestamp()) "
            "ON CONFLICT (app) DO UPDATE SET beat_at = excluded.beat_at",
            (request.app.state.served_by,),
        )
    state = request.app.state
    return JSONResponse({"status": "ok", "app": state.served_by, "region": state.region})


async def livez(request: Request) -> JSONResponse:
    """Liveness: the process answers, whatever the database does (no database round trip)."""
    return JSONResponse({"status": "alive", "app": request.app.state.served_by})


async def create_item(request: Request) -> JSONResponse:
    item = await _json_body(request, NewItem)
    async with _connection(request) as conn:
        cursor = await conn.execute(
            "INSERT INTO items (tenant, title, body) VALUES (%s, %s, %s) RETURNING *",
            (item.tenant, item.title, item.body),
        )
        row = await cursor.fetchone()
    if row is None:  # INSERT … RETURNING answers its row: only a broken server says nothing
        raise Unavailable("the insert returned no row")
    return JSONResponse(_jsonable(row), status_code=201)


async def get_item(request: Request) -> JSONResponse:
    async with _connection(request) as conn:
        cursor = await conn.execute(
            "SELECT * FROM items WHERE id = %s", (request.path_params["item_id"],)
        )
        row = await cursor.fetchone()
    if row is None:
        return JSONResponse({"error": "no such item"}, status_code=404)
    return JSONResponse(_jsonable(row))


async def feed(request: Request) -> JSONResponse:
    try:
        limit = min(max(int(request.query_params.get("limit", "20")), 1), 100)
    except ValueError:
        return JSONResponse({"error": "limit must be a whole number"}, status_code=422)
    tenant = request.query_params.get("tenant")
    query = "SELECT * FROM items {} ORDER BY created_at DESC LIMIT %s"
    where, params = ("WHERE tenant = %s", (tenant, limit)) if tenant else ("", (limit,))
    async with _connection(request) as conn:
        cursor = await conn.execute(query.format(where), params)
        rows = await cursor.fetchall()
    return JSONResponse({"items": [_jsonable(row) for row in rows]})


async def ledger_write(request: Request) -> JSONResponse:
    """Insert one ledger row; the answer is sent only after COMMIT (autocommit)."""
    write = await _json_body(request, LedgerWrite)
    async with _connection(request) as conn:
        cursor = await conn.execute(
            "INSERT INTO ledger (writer, seq) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING RETURNING written_at",
            (write.writer, write.seq),
        )
        row = await cursor.fetchone()
    body = {"writer": write.writer, "seq": write.seq, "created": row is not None}
    if row is None:
        return JSONResponse(body, status_code=200)
    body["written_at"] = row["written_at"].isoformat()
    return JSONResponse(body, status_code=201)


async def ledger_read(request: Request) -> JSONResponse:
    writer = request.path_params["writer"]
    async with _connection(request) as conn:
        cursor = await conn.execute(
            "SELECT seq FROM ledger WHERE writer = %s ORDER BY seq", (writer,)
        )
        seqs = [row["seq"] for row in await cursor.fetchall()]
    return JSONResponse({"writer": writer, "seqs": seqs})


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "database unavailable", "detail": str(exc)}, status_code=503)


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, _BadRequest)
    return JSONResponse({"error": "invalid request body", "detail": exc.errors}, status_code=422)


ROUTES = [
    Route("/healthz", healthz),
    Route("/livez", livez),
    Route("/api/items", create_item, methods=["POST"]),
    Route("/api/items/{item_id:int}", get_item),
    Route("/api/feed", feed),
    Route("/api/ledger", ledger_write, methods=["POST"]),
    Route("/api/ledger/{writer}", ledger_read),
]
ERROR_HANDLERS = {Unavailable: _unavailable, _BadRequest: _bad_request}
