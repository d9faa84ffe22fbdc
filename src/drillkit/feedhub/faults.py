"""HTTP fault injection inside one app, the way a service mesh injects faults: added latency and an
error rate on the routes under a path prefix. Set through an admin endpoint guarded by a token.

    PUT    /_drillkit/faults  {"latency_ms": 300, "error_rate": 0.05, "path_prefix": "/api/"}
    GET    /_drillkit/faults
    DELETE /_drillkit/faults
"""

from __future__ import annotations

import asyncio
import hmac
import random
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

ADMIN_PATH = "/_drillkit/faults"
TOKEN_HEADER = "x-drillkit-token"


class HttpFaults(BaseModel):
    latency_ms: float = Field(0.0, ge=0, le=60_000)
    error_rate: float = Field(0.0, ge=0, le=1)
    path_prefix: str = Field("/api/", pattern=r"^/")

    @property
    def active(self) -> bool:
        return self.latency_ms > 0 or self.error_rate > 0


class FaultInjection:
    """Pure ASGI middleware: applies the current faults and serves the admin endpoint."""

    def __init__(self, app: Any, token: str | None) -> None:
        self.app = app
        self.token = token
        self.faults = HttpFaults()
        self.random = random.Random()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == ADMIN_PATH:
            response = await self._admin(Request(scope, receive))
            await response(scope, receive, send)
            return
        faults = self.faults
        if faults.active and path.startswith(faults.path_prefix):
            await asyncio.sleep(faults.latency_ms / 1000)
            if self.random.random() < faults.error_rate:
                await JSONResponse({"error": "injected fault"}, status_code=503)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _admin(self, request: Request) -> Response:
        given = request.headers.get(TOKEN_HEADER, "")
        if not self.token or not hmac.compare_digest(given, self.token):
            return JSONResponse({"error": "not found"}, status_code=404)
        if request.method == "PUT":
            try:
                self.faults = HttpFaults.model_validate_json(await request.body())
            except ValidationError as exc:
                return JSONResponse({"error": str(exc)}, status_code=422)
        elif request.method == "DELETE":
            self.faults = HttpFaults()
        return JSONResponse(self.faults.model_dump())
