"""inject(): logged before the action, confirmed after it, closed as not injected when it failed and
nothing of it is in place; names the target lacks fail before anything is logged."""

from __future__ import annotations

from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from drillkit.faultlog import FaultLog
from drillkit.faults import recovery
from drillkit.faults.app.actions import remove_http_faults, restart_app
from drillkit.faults.environment import RUN_ID_ENV, RUN_ID_KEY, TARGET_KEY, Environment, inject, run_id
from drillkit.model.target import Target, load_target

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path) -> Environment:
    target = load_target(ROOT / "drills" / "targets" / "sandbox.yaml")
    configuration = {TARGET_KEY: str(ROOT / "drills" / "targets" / "sandbox.yaml"), RUN_ID_KEY: "run-7"}
    env = Environment(target, FaultLog(tmp_path / "faults.jsonl"), "run-7", configuration)
    env.__dict__["driver"] = object()  # a driver at hand: these tests are about the log
    return env


def test_the_run_id_comes_from_the_configuration_then_the_environment_then_the_process(monkeypatch):
    monkeypatch.setenv(RUN_ID_ENV, "from-env")
    assert run_id({RUN_ID_KEY: "from-config"}) == "from-config"
    assert run_id({}) == "from-env"
    monkeypatch.delenv(RUN_ID_ENV)
    assert run_id(None) == run_id({}) != ""  # one id for the whole process


def test_a_fault_is_opened_before_its_action_and_confirmed_after_it(env):
    seen_open = []
    output = inject(env, "kill_app", (restart_app, {"region": "region-a"}),
                    lambda: seen_open.append(len(env.faults.open_faults())), region="region-a")
    assert seen_open == [1]
    (mark,) = env.faults.marks("run-7")
    assert mark["fault_id"] == output["fault_id"]
    assert mark["issued"] <= output["issued_monotonic"] <= output["injected_monotonic"] == mark["confirmed"]
    assert output["run_id"] == "run-7" and mark["error"] is None


def test_a_failed_injection_is_healed_once_then_closed_as_not_injected(env):
    healed = []

    def restart_app(**kwargs) -> None:
        healed.append(kwargs)

    def fail() -> None:
        raise OSError("no such process")

    with pytest.raises(ActivityFailed, match="no such process"):
        inject(env, "kill_app", (restart_app, {"region": "region-a"}), fail, region="region-a")
    assert [call["region"] for call in healed] == ["region-a"]
    assert env.faults.open_faults() == []
    (mark,) = env.faults.marks("run-7")
    assert mark["confirmed"] is None and "no such process" in mark["error"]


def test_a_failed_injection_whose_heal_fails_too_stays_open_and_says_to_recover(env):
    def restart_app(**kwargs):
        raise ActivityFailed("cannot reach the app")

    with pytest.raises(ActivityFailed, match="drillkit recover --run run-7"):
        inject(env, "kill_app", (restart_app, {"region": "region-a"}),
               lambda: (_ for _ in ()).throw(OSError("boom")), region="region-a")
    assert [f.fault for f in env.faults.open_faults("run-7")] == ["kill_app"]


@pytest.mark.parametrize("details", [{"region": "${region}"}, {"component": "app-z"}])
def test_a_fault_naming_what_the_target_lacks_fails_before_it_is_logged(env, details):
    with pytest.raises(ActivityFailed, match="has no"):
        inject(env, "inject_http_faults", (remove_http_faults, {"region": "x"}), lambda: None, **details)
    assert not env.faults.path.exists()


def test_a_fault_whose_driver_cannot_be_built_fails_before_it_is_logged(tmp_path):
    data = load_target(ROOT / "drills" / "targets" / "sandbox.yaml").model_dump(mode="json")
    engine = f"unix://{tmp_path}/no-engine.sock"
    target = Target.model_validate({**data, "driver": {"type": "docker", "base_url": engine}})
    env = Environment(target, FaultLog(tmp_path / "faults.jsonl"), "run-7", {})
    with pytest.raises(ActivityFailed, match="Docker engine at .* does not answer"):
        inject(env, "kill_app", (restart_app, {"region": "region-a"}), lambda: None, region="region-a")
    assert env.faults.open_faults() == []


@pytest.mark.parametrize("error", [KeyError("no region 'x'"), ValueError("negative latency")])
def test_key_and_value_errors_of_an_action_become_activity_failures_with_a_sentence(env, error):
    def remove_http_faults(**kwargs) -> None:
        pass

    def fail() -> None:
        raise error

    with pytest.raises(ActivityFailed, match=type(error).__name__):
        inject(env, "inject_http_faults", (remove_http_faults, {"region": "region-a"}), fail,
               region="region-a")


def test_a_heal_that_is_no_known_rollback_fails_before_anything_is_logged(env):
    def tidy_up(**kwargs) -> None:
        pass

    with pytest.raises(ActivityFailed, match="'tidy_up' is not a rollback"):
        inject(env, "kill_app", (tidy_up, {"region": "region-a"}), lambda: None, region="region-a")
    assert not env.faults.path.exists()


def test_recover_heals_only_the_runs_faults_when_asked_and_survives_a_healer_that_crashes(tmp_path, monkeypatch):
    log = FaultLog(tmp_path / "faults.jsonl")
    log.opened("kill_app", "restart_app", {"region": "region-a"}, "run-1")
    log.opened("pause_app", "resume_app", {"region": "region-b"}, "run-2")
    calls = []

    def crashing(**kwargs):
        calls.append(kwargs["configuration"][RUN_ID_KEY])
        raise KeyError("region-b")

    monkeypatch.setattr(recovery, "HEALERS", {"restart_app": lambda **kw: calls.append("restart"),
                                              "resume_app": crashing})
    outcomes = list(recovery.recover(tmp_path / "target.yaml", log, "run-2"))
    assert calls == ["run-2"]
    assert [(o.fault.fault, o.healed) for o in outcomes] == [("pause_app", False)]
    assert "KeyError" in outcomes[0].error

