"""Fault injection inside the Feed Hub app: pure middleware logic, no database needed."""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from drillkit.feedhub.faults import ADMIN_PATH, TOKEN_HEADER, FaultInjection


def _client(token: str | None = "secret") -> TestClient:
    async def ok(request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/api/feed", ok), Route("/healthz", ok)])
    app.add_middleware(FaultInjection, token=token)
    return TestClient(app)


def test_the_admin_endpoint_is_hidden_without_the_token():
    client = _client()
    assert client.put(ADMIN_PATH, json={"error_rate": 1}).status_code == 404
    assert client.put(ADMIN_PATH, json={"error_rate": 1}, headers={TOKEN_HEADER: "wrong"}).status_code == 404
    assert _client(token=None).get(ADMIN_PATH, headers={TOKEN_HEADER: ""}).status_code == 404


def test_an_error_rate_of_one_fails_every_api_request_but_not_health_checks():
    client = _client()
    response = client.put(ADMIN_PATH, json={"error_rate": 1.0}, headers={TOKEN_HEADER: "secret"})
    assert response.status_code == 200
    assert [client.get("/api/feed").status_code for _ in range(5)] == [503] * 5
    assert client.get("/healthz").status_code == 200


def test_latency_is_added_to_api_routes_and_removed_again():
    client = _client()
    client.put(ADMIN_PATH, json={"latency_ms": 200}, headers={TOKEN_HEADER: "secret"})
    started = time.monotonic()
    assert client.get("/api/feed").status_code == 200
    assert time.monotonic() - started >= 0.2
    client.delete(ADMIN_PATH, headers={TOKEN_HEADER: "secret"})
    assert client.get(ADMIN_PATH, headers={TOKEN_HEADER: "secret"}).json()["latency_ms"] == 0


def test_an_invalid_fault_is_refused():
    client = _client()
    response = client.put(ADMIN_PATH, json={"error_rate": 2}, headers={TOKEN_HEADER: "secret"})
    assert response.status_code == 422
