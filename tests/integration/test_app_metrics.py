"""The real app-a's /metrics: requests counted by route and status, and its live database pool."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from .conftest import TEST_PORTS

APP_A = f"http://127.0.10.1:{TEST_PORTS['app']}"


def scrape(client: httpx.Client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200, response.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def count(found: dict, route: str, method: str, status: str) -> float:
    labels = frozenset({"route": route, "method": method, "status": status}.items())
    return found.get(("feedhub_http_requests_total", labels), 0.0)


def test_app_a_counts_its_requests_by_route_and_status_and_shows_its_pool(sandbox):
    with httpx.Client(base_url=APP_A, timeout=5) as client:
        before = scrape(client)
        created = client.post("/api/items", json={"title": f"metrics-{uuid.uuid4()}"})
        assert created.status_code == 201, created.text
        assert client.get(f"/api/items/{created.json()['id']}").status_code == 200
        assert client.get("/api/items/999999999999").status_code == 404
        after = scrape(client)
    for route, method, status in (("/api/items", "POST", "201"), ("/api/items/{item_id:int}", "GET", "200"),
                                  ("/api/items/{item_id:int}", "GET", "404")):
        assert count(after, route, method, status) - count(before, route, method, status) == 1, (route, status)
    pool = {name: value for (name, labels), value in after.items() if name.startswith("feedhub_db_pool_")}
    assert pool["feedhub_db_pool_min_connections"] == 4 and pool["feedhub_db_pool_max_connections"] == 10
    assert pool["feedhub_db_pool_connections"] >= 4
    assert pool["feedhub_db_pool_connections_idle"] >= 1
    assert pool["feedhub_db_pool_requests_total"] >= 3  # the three requests above, health checks besides
