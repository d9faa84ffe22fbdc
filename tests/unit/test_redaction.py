"""Secrets stay secret: read at use from the environment or a file, and masked in every file and log a run
writes (durable's JSON, the logging handlers); the app's admin token comes from the target when it names
one; a production target takes no fault from a plain `chaos run` nor one it does not allow."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from chaoslib.exceptions import ActivityFailed

from drillkit import durable, preflight, redaction
from drillkit.faultlog import FaultLog
from drillkit.faults.app import actions as app_actions
from drillkit.faults.app.actions import remove_http_faults
from drillkit.faults.environment import TARGET_SPEC_KEY, Environment, inject
from drillkit.feedhub.faults import TOKEN_HEADER
from drillkit.model.secrets import SecretRef
from drillkit.model.target import Target, load_target

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "drills" / "targets" / "sandbox.yaml"
TOKEN = "tok-9f8e7d6c5b4a"


def a_target(**changes) -> Target:
    return load_target(SANDBOX).model_copy(update=changes)


@pytest.fixture
def revealed(monkeypatch) -> str:
    monkeypatch.setenv("DRILLKIT_TEST_ADMIN_TOKEN", TOKEN)
    return SecretRef(env="DRILLKIT_TEST_ADMIN_TOKEN").reveal()


def test_a_revealed_secret_is_masked_in_every_json_file_and_line_written(revealed, tmp_path):
    data = {"output": f"Bearer {revealed}", revealed: [revealed, 3], "path": Path(f"/x/{revealed}")}
    durable.write_json(tmp_path / "journal.json", data)
    durable.append_line(tmp_path / "faults.jsonl", data)
    for name in ("journal.json", "faults.jsonl"):
        text = (tmp_path / name).read_text()
        assert TOKEN not in text and redaction.MASK in text
    assert json.loads((tmp_path / "journal.json").read_text())["output"] == f"Bearer {redaction.MASK}"


def test_nothing_is_masked_before_a_secret_is_read(tmp_path):
    durable.write_json(tmp_path / "plain.json", {"value": TOKEN})
    assert TOKEN in (tmp_path / "plain.json").read_text()


def test_a_log_record_is_masked_in_its_message_its_arguments_and_its_traceback(revealed, tmp_path):
    handler = logging.FileHandler(tmp_path / "drill.log")
    handler.addFilter(redaction.LogFilter())
    log = logging.getLogger("drillkit.test-redaction")
    log.addHandler(handler)
    try:
        log.warning("calling with %s", {"x-drillkit-token": revealed})
        try:
            raise RuntimeError(f"refused {revealed}")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
        handler.close()
    text = (tmp_path / "drill.log").read_text()
    assert TOKEN not in text and text.count(redaction.MASK) == 2


def test_a_value_too_short_to_be_a_secret_masks_nothing():
    redaction.remember("a")
    assert redaction.redact("a cat") == "a cat"


class Recorded:
    def __init__(self):
        self.headers: dict[str, str] = {}

    def __call__(self, method, url, json=None, headers=None, timeout=None):
        self.headers = dict(headers or {})
        return httpx.Response(200, json={"latency_ms": 0}, request=httpx.Request(method, url))


class TokenDriver:
    def admin_token(self) -> str:
        return "the-sandbox-credentials-token"


def env_of(target: Target, tmp_path: Path) -> Environment:
    env = Environment(target, FaultLog(tmp_path / "faults.jsonl"), "run-1", {})
    env.__dict__["driver"] = TokenDriver()
    return env


def test_the_admin_token_comes_from_the_target_secret_when_it_names_one(revealed, tmp_path, monkeypatch):
    recorded = Recorded()
    monkeypatch.setattr(app_actions.httpx, "request", recorded)
    target = a_target(secrets={"app_admin_token": SecretRef(env="DRILLKIT_TEST_ADMIN_TOKEN")})
    app_actions._admin(env_of(target, tmp_path), "region-a", "DELETE")
    assert recorded.headers == {TOKEN_HEADER: TOKEN}


def test_without_the_secret_the_admin_token_is_the_driver_one_and_is_masked_too(tmp_path, monkeypatch):
    recorded = Recorded()
    monkeypatch.setattr(app_actions.httpx, "request", recorded)
    app_actions._admin(env_of(a_target(), tmp_path), "region-a", "DELETE")
    assert recorded.headers == {TOKEN_HEADER: "the-sandbox-credentials-token"}
    assert redaction.redact("the-sandbox-credentials-token") == redaction.MASK


def test_the_preflight_reads_every_secret_and_names_only_where_it_comes_from(monkeypatch):
    target = a_target(secrets={"app_admin_token": SecretRef(env="DRILLKIT_TEST_ADMIN_TOKEN")})
    monkeypatch.delenv("DRILLKIT_TEST_ADMIN_TOKEN", raising=False)
    missing = [c for c in preflight.static_checks(target, set()).checks if c.name == "secret"]
    assert [(c.subject, c.ok, c.kind) for c in missing] == [("secrets.app_admin_token", False, "input")]
    assert "$DRILLKIT_TEST_ADMIN_TOKEN is not set" in missing[0].detail
    monkeypatch.setenv("DRILLKIT_TEST_ADMIN_TOKEN", TOKEN)
    report = preflight.static_checks(target, set())
    assert [c.detail for c in report.checks if c.name == "secret"] == ["read from $DRILLKIT_TEST_ADMIN_TOKEN"]
    assert TOKEN not in json.dumps(report.to_dict())


def test_a_production_target_takes_no_fault_from_a_plain_chaos_run(tmp_path):
    env = env_of(a_target(kind="production", allowed_faults=["inject_http_faults"]), tmp_path)
    with pytest.raises(ActivityFailed, match="not a plain `chaos run`"):
        inject(env, "inject_http_faults", (remove_http_faults, {"region": "region-a"}), lambda: None)
    assert not env.faults.path.exists()


def test_a_production_target_takes_no_fault_it_does_not_allow_even_from_a_drillkit_run(tmp_path):
    env = env_of(a_target(kind="production", allowed_faults=["inject_http_faults"]), tmp_path)
    env.configuration = {TARGET_SPEC_KEY: "{}"}
    with pytest.raises(ActivityFailed, match=r"'kill_app' is not allowed on 'sandbox' \(allowed: inject_http"):
        inject(env, "kill_app", None, lambda: None)
    assert inject(env, "inject_http_faults", None, lambda: None)["fault"] == "inject_http_faults"
