"""The Docker staging, up for real: the user's path through the load balancer, Patroni's roles, the apps'
writes and reads."""

from __future__ import annotations

import httpx

from drillkit import patroni_api
from drillkit.staging import topology
from drillkit.staging.stack import Staging


def test_the_staging_answers_through_the_load_balancer_from_both_regions(staging: Staging) -> None:
    answers = [httpx.get(f"{topology.endpoint()}/healthz", timeout=5) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 6
    assert {answer.json()["app"] for answer in answers} == {"app-a", "app-b"}


def test_patroni_has_a_leader_and_a_streaming_replica(staging: Staging) -> None:
    states = [patroni_api.member_state(api) for api in topology.patroni_apis()]
    assert sum(patroni_api.is_running_leader(state) for state in states) == 1
    assert sum(patroni_api.is_streaming_replica(state) for state in states) == 1
    assert staging.status().healthy


def test_an_item_written_through_the_load_balancer_is_read_back_from_each_app(staging: Staging) -> None:
    written = httpx.post(f"{topology.endpoint()}/api/items", json={"tenant": "staging", "title": "round trip"},
                         timeout=5)
    assert written.status_code == 201
    item = written.json()["id"]
    for app, url in topology.app_urls().items():
        read = httpx.get(f"{url}/api/items/{item}", timeout=5)
        assert (app, read.status_code, read.json()["title"]) == (app, 200, "round trip")
