"""What goes wrong in an activity reaches Chaos Toolkit (and `drillkit recover`) as ActivityFailed with a
sentence: a region or a member the target lacks, named with the target's file; a refused HTTP call; a bad
argument. Nothing listens on the target's addresses here, so every call is refused at once."""

from __future__ import annotations

import importlib
from pathlib import Path

import httpx
import pytest
import yaml
from chaoslib.exceptions import ActivityFailed

from drillkit import patroni_api
from drillkit.faults import environment as faults_environment
from drillkit.faults.environment import TARGET_KEY

ROOT = Path(__file__).resolve().parents[2]
NOWHERE = {"region-a": "127.0.99.1", "region-b": "127.0.99.2"}  # port 9: nothing answers


class FakeDriver:
    """A driver at hand that does nothing: these tests are about errors, not processes."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: "token" if name == "admin_token" else None


@pytest.fixture
def target_file(tmp_path, monkeypatch) -> Path:
    data = yaml.safe_load((ROOT / "drills" / "targets" / "sandbox.yaml").read_text())
    data["driver"]["state_dir"] = str(tmp_path / "state")
    for name, address in NOWHERE.items():
        data["regions"][name]["app"]["url"] = f"http://{address}:9"
        data["regions"][name]["database"]["patroni_api"] = f"http://{address}:9"
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setattr(faults_environment, "driver_for", lambda target: FakeDriver())
    return path


@pytest.fixture
def leader_pg_a(monkeypatch) -> None:
    """The cluster says pg-a leads; anything more asked of Patroni is refused."""
    cluster = [{"name": "pg-a", "role": "leader", "state": "running"}, {"name": "pg-b", "role": "replica"}]
    monkeypatch.setattr(patroni_api, "members", lambda apis, timeout_s=1.0: cluster)


def _refused(*args, **kwargs):
    raise httpx.ConnectError("[Errno 111] Connection refused")


CASES = [
    ("app.actions", "kill_app", {"region": "region-z"}, "has no region 'region-z'"),
    ("app.actions", "inject_http_faults", {"region": "region-a"}, "ConnectError: .*refused"),
    ("app.probes", "http_ok_ratio", {"region": "region-z"}, "has no region 'region-z'"),
    ("region.actions", "partition_region", {"region": "region-z"}, "has no region 'region-z'"),
    ("region.probes", "region_healthy", {"region": "region-z"}, "has no region 'region-z'"),
    ("database.actions", "isolate_replica", {"replica": "pg-z"}, "has no component 'pg-z'"),
    ("database.actions", "switchover", {}, "ConnectError: .*refused"),
    ("database.actions", "kill_primary", {"scope": "disk"}, "ValueError: scope must be 'node' or 'postgres'"),
    ("load.actions", "start_load_spike", {"base_users": "five"}, "TypeError: "),
    ("load.probes", "wait_for_load", {}, "Locust left no statistics"),
]


@pytest.mark.parametrize("module, name, arguments, sentence", CASES, ids=[f"{c[0]}.{c[1]}" for c in CASES])
def test_an_activity_fails_with_a_sentence_never_a_bare_library_error(
    target_file, leader_pg_a, module, name, arguments, sentence,
):
    func = getattr(importlib.import_module(f"drillkit.faults.{module}"), name)
    with pytest.raises(ActivityFailed, match=sentence):
        func(**arguments, configuration={TARGET_KEY: str(target_file)})


def test_a_refused_call_of_a_library_a_probe_relies_on_fails_the_probe_with_a_sentence(
    target_file, monkeypatch,
):
    from drillkit.faults.database.probes import db_leader

    monkeypatch.setattr(patroni_api, "members", _refused)
    with pytest.raises(ActivityFailed, match="ConnectError: .*refused") as failed:
        db_leader(configuration={TARGET_KEY: str(target_file)})
    assert isinstance(failed.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize("module, name, arguments", [
    ("app.actions", "kill_app", {"region": "region-z"}),
    ("database.actions", "isolate_replica", {"replica": "pg-z"}),
])
def test_a_name_the_target_lacks_is_reported_with_the_target_file(target_file, leader_pg_a, module, name, arguments):
    func = getattr(importlib.import_module(f"drillkit.faults.{module}"), name)
    with pytest.raises(ActivityFailed) as failed:
        func(**arguments, configuration={TARGET_KEY: str(target_file)})
    assert f"target 'sandbox' ({target_file})" in str(failed.value)
    assert "(it has: " in str(failed.value)


def test_a_leader_the_target_does_not_know_fails_the_switchover_naming_it(target_file, monkeypatch):
    from drillkit.faults.database.actions import switchover

    cluster = [{"name": "pg-q", "role": "leader", "state": "running"}]
    monkeypatch.setattr(patroni_api, "members", lambda apis, timeout_s=1.0: cluster)
    with pytest.raises(ActivityFailed, match="has no database member 'pg-q' \\(it has: pg-a, pg-b\\)"):
        switchover(configuration={TARGET_KEY: str(target_file)})
