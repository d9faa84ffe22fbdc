"""The recovery checks (faults/app/probes.py) ask what the target's `probes` name, with its headers and
bearer token, as the probers do."""

from __future__ import annotations

import httpx

from drillkit.faults.app import probes
from drillkit.model.target import ProbePaths, Target

from .targets import unreachable_target_spec


def recording(seen: list) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.raw_path.decode(), request.headers.get("authorization"),
                     request.headers.get("x-team")))
        return httpx.Response(201, json={"id": 5}) if request.method == "POST" else httpx.Response(200)

    return httpx.MockTransport(answer)


def test_a_recovery_check_writes_and_reads_back_the_targets_paths_with_its_headers_and_token(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIT_PROBE_TOKEN", "tok-abad1dea")
    target = Target.model_validate(unreachable_target_spec(tmp_path) | {"probes": {
        "write": "/v1/posts", "read_back": "/v1/posts/{id}", "headers": {"x-team": "sre"},
        "token": {"env": "UNIT_PROBE_TOKEN"}}})
    seen: list = []
    client = probes._client(target, "http://lb.test", 1.0)
    client._transport = recording(seen)
    with client:
        assert probes._user_served(client, target.probes)
    bearer = "Bearer tok-abad1dea"
    assert seen == [("POST", "/v1/posts", bearer, "sre"), ("GET", "/v1/posts/5", bearer, "sre")]


def test_without_a_write_path_a_recovery_check_reads():
    seen: list = []
    with httpx.Client(base_url="http://lb.test", transport=recording(seen)) as client:
        assert probes._user_served(client, ProbePaths(write=None, read="/status"))
    assert seen == [("GET", "/status", None, None)]
