"""The Feed Hub app's /metrics, for Prometheus: requests counted and timed by route, method and status,
and the state of the database pool (psycopg_pool's `get_stats()`, read at each scrape).

Routes are labelled by their template (`/api/items/{item_id:int}`), never by the raw path, so that the
number of series stays bounded; a path no route matches is `<unmatched>`. The middleware sits outside
fault injection, so an injected 503 is counted as the user saw it, and /metrics itself is neither
delayed nor failed by an injected fault, nor counted. Each app has a registry of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match

METRICS_PATH = "/metrics"
UNMATCHED = "<unmatched>"
# Seconds; 0.5 is the latency objective's threshold, so the SLI can be read straight off a bucket.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LABELS = ("route", "method", "status")

# psycopg_pool's get_stats() keys: (metric, help, divisor to the base unit). A counter that never
# moved is missing from get_stats(): it reads 0.
POOL_GAUGES = {
    "pool_size": ("feedhub_db_pool_connections", "connections the pool holds or is opening, busy or idle"),
    "pool_available": ("feedhub_db_pool_connections_idle", "connections idle in the pool"),
    "pool_min": ("feedhub_db_pool_min_connections", "the pool's minimum size"),
    "pool_max": ("feedhub_db_pool_max_connections", "the pool's maximum size"),
    "requests_waiting": ("feedhub_db_pool_requests_waiting", "requests waiting for a connection now"),
}
POOL_COUNTERS = {
    "requests_num": ("feedhub_db_pool_requests", "connections asked of the pool", 1),
    "requests_queued": ("feedhub_db_pool_requests_queued", "requests that had to wait for a connection", 1),
    "requests_wait_ms": ("feedhub_db_pool_requests_wait_seconds", "time spent waiting for a connection", 1000),
    "requests_errors": ("feedhub_db_pool_requests_errors", "requests that got no connection (timeout)", 1),
    "usage_ms": ("feedhub_db_pool_usage_seconds", "time connections were out of the pool", 1000),
    "returns_bad": ("feedhub_db_pool_returns_bad", "connections returned broken", 1),
    "connections_num": ("feedhub_db_pool_connection_attempts", "connections the pool tried to open", 1),
    "connections_ms": ("feedhub_db_pool_connect_seconds", "time spent opening connections", 1000),
    "connections_errors": ("feedhub_db_pool_connection_errors", "connections that failed to open", 1),
    "connections_lost": ("feedhub_db_pool_connections_lost", "connections found broken by a check", 1),
}


class AppMetrics:
    """One app's instruments, in a registry of its own."""

    def __init__(self, *, app: str, region: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("feedhub_http_requests", "HTTP requests answered", LABELS, registry=self.registry)
        self.latency = Histogram("feedhub_http_request_duration_seconds", "time to answer an HTTP request",
                                 LABELS, buckets=BUCKETS, registry=self.registry)
        info = Gauge("feedhub_app_info", "this app's name and region (always 1)", ("app", "region"),
                     registry=self.registry)
        info.labels(app=app, region=region).set(1)
        self.pool = _PoolCollector()
        self.registry.register(self.pool)

    def watch_pool(self, stats: Callable[[], Mapping[str, int]]) -> None:
        """Read the pool's state from STATS at every scrape (psycopg_pool's get_stats)."""
        self.pool.stats = stats

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        labels = {"route": route, "method": method, "status": str(status)}
        self.requests.labels(**labels).inc()
        self.latency.labels(**labels).observe(seconds)

    def exposition(self, accept: str) -> Response:
        encoder, content_type = choose_encoder(accept)
        return Response(encoder(self.registry), media_type=content_type)


class _PoolCollector(Collector):
    def __init__(self) -> None:
        self.stats: Callable[[], Mapping[str, int]] | None = None

    def collect(self) -> Iterator[Metric]:
        if self.stats is None:  # before the app's lifespan opened its pool
            return
        stats = self.stats()
        for key, (name, doc) in POOL_GAUGES.items():
            yield GaugeMetricFamily(name, doc, value=stats.get(key, 0))
        for key, (name, doc, divisor) in POOL_COUNTERS.items():
            yield CounterMetricFamily(name, doc, value=stats.get(key, 0) / divisor)


class RequestMetrics:
    """Pure ASGI middleware: serves /metrics and times every other HTTP request."""

    def __init__(self, app: Any, metrics: AppMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == METRICS_PATH:
            response = self.metrics.exposition(Request(scope).headers.get("accept", ""))
            await response(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes is answered 500 by the server error middleware

        async def seen(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, seen)
        finally:
            route = route_of(scope, getattr(scope.get("app"), "routes", ()))
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - started)


def route_of(scope: dict, routes: Iterable[BaseRoute]) -> str:
    """The template of the route that serves SCOPE, else of one whose path matches but not its method (405)."""
    partial = UNMATCHED
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", UNMATCHED))
        if match is Match.PARTIAL and partial == UNMATCHED:
            partial = str(getattr(route, "path", UNMATCHED))
    return partial
