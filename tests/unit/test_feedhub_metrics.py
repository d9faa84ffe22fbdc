"""The Feed Hub app's /metrics: requests by route and status, latency histograms, the database pool.

The app runs in Starlette's TestClient with its lifespan, over a DSN that nothing answers (a closed
loopback port): its pool really opens and really fails, which /metrics must show.
"""

from __future__ import annotations

import time

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from drillkit.feedhub.faults import ADMIN_PATH, TOKEN_HEADER
from drillkit.feedhub.main import create_app
from drillkit.feedhub.metrics import AppMetrics, RequestMetrics

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setenv("FEEDHUB_DSN", "host=127.0.0.1 port=9 dbname=feedhub user=feedhub connect_timeout=1")
    monkeypatch.setenv("FEEDHUB_APP", "app-a")
    monkeypatch.setenv("FEEDHUB_REGION", "region-a")
    monkeypatch.setenv("FEEDHUB_ADMIN_TOKEN", "token")
    with TestClient(create_app()) as started:
        yield started


def scrape(client: TestClient) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers={"accept": OPENMETRICS})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/openmetrics")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def requests(found: dict, route: str, method: str, status: str) -> float | None:
    return found.get(("feedhub_http_requests_total",
                      frozenset({"route": route, "method": method, "status": status}.items())))


def test_requests_are_counted_by_route_template_method_and_status(client):
    for _ in range(3):
        assert client.get("/livez").status_code == 200
    assert client.get("/api/feed?limit=many").status_code == 422
    assert client.get("/api/items/41").status_code == 503      # no database: the pool times out
    assert client.post("/livez").status_code == 405
    assert client.get("/no/such/page").status_code == 404
    found = scrape(client)
    assert requests(found, "/livez", "GET", "200") == 3
    assert requests(found, "/api/feed", "GET", "422") == 1
    assert requests(found, "/api/items/{item_id:int}", "GET", "503") == 1
    assert requests(found, "/livez", "POST", "405") == 1
    assert requests(found, "<unmatched>", "GET", "404") == 1
    assert not [key for key in found if key[0] == "feedhub_http_requests_total" and dict(key[1])["route"] == "/metrics"]


def test_latency_is_a_histogram_with_a_bucket_at_the_latency_objective(client):
    client.get("/livez")
    found = scrape(client)
    labels = {"route": "/livez", "method": "GET", "status": "200"}
    bucket = ("feedhub_http_request_duration_seconds_bucket", frozenset({**labels, "le": "0.5"}.items()))
    count = ("feedhub_http_request_duration_seconds_count", frozenset(labels.items()))
    assert found[bucket] == found[count] == 1


def test_an_injected_fault_is_counted_as_the_user_saw_it_and_never_touches_metrics(client):
    fault = {"error_rate": 1.0, "latency_ms": 300, "path_prefix": "/"}
    assert client.put(ADMIN_PATH, json=fault, headers={TOKEN_HEADER: "token"}).status_code == 200
    assert client.get("/livez").status_code == 503
    started = time.monotonic()
    found = scrape(client)
    assert time.monotonic() - started < 0.3  # /metrics is neither delayed nor failed by the fault
    assert requests(found, "/livez", "GET", "503") == 1


def test_the_database_pool_state_is_shown_and_its_failures_counted(client):
    deadline = time.monotonic() + 10
    while (found := scrape(client))[("feedhub_db_pool_connection_errors_total", frozenset())] == 0:
        assert time.monotonic() < deadline, "the pool never reported its failed connections"
        time.sleep(0.1)
    assert found[("feedhub_db_pool_min_connections", frozenset())] == 4
    assert found[("feedhub_db_pool_max_connections", frozenset())] == 10
    assert found[("feedhub_db_pool_connections_idle", frozenset())] == 0
    assert ("feedhub_db_pool_requests_waiting", frozenset()) in found
    assert found[("feedhub_app_info", frozenset({"app": "app-a", "region": "region-a"}.items()))] == 1


def test_a_request_the_pool_could_not_serve_is_counted_by_the_pool(client):
    assert client.get("/healthz").status_code == 503
    found = scrape(client)
    assert found[("feedhub_db_pool_requests_total", frozenset())] == 1
    assert found[("feedhub_db_pool_requests_errors_total", frozenset())] == 1


def test_prometheus_text_format_is_served_to_a_scraper_that_does_not_ask_for_openmetrics(client):
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "feedhub_db_pool_max_connections 10.0" in response.text


def test_a_request_that_crashed_the_app_is_counted_as_the_500_the_user_got():
    async def broken(request):
        raise RuntimeError("a bug")

    metrics = AppMetrics(app="app-a", region="region-a")
    app = Starlette(routes=[Route("/api/broken", broken)])
    app.add_middleware(RequestMetrics, metrics=metrics)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/api/broken").status_code == 500
    assert requests(scrape(client), "/api/broken", "GET", "500") == 1
