"""A region is healthy when its app answers /healthz and its database member leads or streams: a replica
that runs without streaming (a demoted primary that could not rejoin) is not."""

from __future__ import annotations

import httpx
import pytest

from drillkit.faults.region import health
from drillkit.model.target import Target

TARGET = Target.model_validate({
    "name": "t", "kind": "sandbox", "driver": {"type": "process"}, "endpoint": "http://127.0.0.1:8080",
    "regions": {name: {"address": f"127.0.{n}.1", "app": {"component": f"app-{x}", "url": f"http://127.0.{n}.1:8000"},
                       "database": {"component": f"pg-{x}", "patroni_api": f"http://127.0.{n}.1:8008"}}
                for name, n, x in (("region-a", 10, "a"), ("region-b", 20, "b"))},
})


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    members: list[dict] = []
    monkeypatch.setattr(health.patroni_api, "members", lambda apis: members)
    monkeypatch.setattr(health.httpx, "get", lambda url, timeout: httpx.Response(200))
    return members


@pytest.mark.parametrize(("role", "state", "healthy"), [
    ("leader", "running", True),
    ("replica", "streaming", True),
    ("replica", "running", False),
    ("replica", "starting", False),
    ("leader", "stopped", False),
])
def test_a_region_is_healthy_only_while_its_member_leads_or_streams(cluster: list[dict], role: str, state: str,
                                                                    healthy: bool):
    cluster += [{"name": "pg-b", "role": role, "state": state},
                {"name": "pg-a", "role": "replica" if role == "leader" else "leader", "state": "running"}]
    assert health.healthy(TARGET, "region-b") is healthy
