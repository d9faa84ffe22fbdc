"""The webhook told when a drill starts, aborts and ends: its body, and that it never fails a drill."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from drillkit.drill import drill as drill_module
from drillkit.drill.progress import DrillProgress
from drillkit.errors import Aborted
from drillkit.model.secrets import SecretRef
from drillkit.model.target import Notify
from drillkit.report.notify import Notifier, ended_message, started_message
from drillkit.validation import plan_drill
from tests.unit.drill_runs import drill_run, record

SECRET_URL = "https://hooks.slack.example/services/T000/B000/very-secret-token"
RUN_ID = "20261120T095800Z-ab12"


@pytest.fixture
def webhook(monkeypatch) -> SecretRef:
    monkeypatch.setenv("DRILLKIT_TEST_WEBHOOK", SECRET_URL)
    return SecretRef(env="DRILLKIT_TEST_WEBHOOK")


def receiver(answer: int = 200) -> tuple[httpx.Client, list[dict]]:
    bodies: list[dict] = []

    def handle(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == SECRET_URL and request.method == "POST"
        bodies.append(json.loads(request.read()))
        return httpx.Response(answer)

    return httpx.Client(transport=httpx.MockTransport(handle)), bodies


def unreachable() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}")  # as some transports word it

    return httpx.Client(transport=httpx.MockTransport(refuse))


def test_the_start_message_has_a_text_for_slack_and_teams_and_the_facts_as_fields():
    body = started_message(drill_run(run_id=RUN_ID))
    assert body["event"] == "started"
    facts = {"drill": "quarterly", "target": "sandbox", "target_kind": "sandbox", "run_id": RUN_ID}
    assert facts.items() <= body.items()
    assert body["text"].startswith("drillkit: drill quarterly started against sandbox (sandbox)")
    assert RUN_ID in body["text"]


def test_the_end_message_of_a_scored_drill_says_its_verdict_score_and_grade():
    body = ended_message(drill_run(run_id=RUN_ID))
    assert body["event"] == "ended"
    assert body["status"] == "passed" and body["grade"] == "A" and isinstance(body["score"], float)
    assert f"PASSED against sandbox (sandbox), run {RUN_ID}, platform score {body['score']:g}, grade A" in body["text"]


def test_a_drill_that_was_aborted_ends_with_an_aborted_event_and_its_reason():
    body = ended_message(drill_run(aborted="interrupted (Ctrl-C or SIGTERM)"))
    assert body["event"] == "aborted" and body["status"] == "aborted"
    assert body["reason"] == "interrupted (Ctrl-C or SIGTERM)" and "ABORTED" in body["text"]


def test_a_run_whose_rollback_failed_is_reported_aborted():
    body = ended_message(drill_run(record(status="rollback failed", rollbacks_ok=False)))
    assert body["event"] == "aborted"


def test_an_error_that_escaped_the_drill_aborts_it_in_the_message():
    body = ended_message(drill_run(), error=Aborted("the cluster did not settle with pg-a leading within 120 s"))
    assert body["event"] == "aborted"
    assert body["reason"] == "the cluster did not settle with pg-a leading within 120 s"
    assert body["score"] is None


def test_the_notifier_posts_the_start_and_the_end(webhook):
    client, bodies = receiver()
    notifier = Notifier(webhook=webhook, client=client)
    notifier.started(drill_run())
    notifier.ended(drill_run())
    assert [b["event"] for b in bodies] == ["started", "ended"]


def test_a_webhook_that_fails_is_a_warning_that_never_shows_its_url(webhook, caplog):
    said: list[str] = []
    caplog.set_level(logging.DEBUG)
    client, _ = receiver(answer=500)
    Notifier(webhook=webhook, client=client, say=said.append).ended(drill_run())
    Notifier(webhook=webhook, client=unreachable(), say=said.append).started(drill_run())
    assert len(said) == 2 and "answered 500" in said[0] and "not notified" in said[1]
    assert all("$DRILLKIT_TEST_WEBHOOK" in line for line in said)
    assert "very-secret-token" not in " ".join(said) + caplog.text


def test_a_webhook_whose_secret_is_unset_is_a_warning(monkeypatch):
    monkeypatch.delenv("DRILLKIT_TEST_WEBHOOK", raising=False)
    said: list[str] = []
    Notifier(webhook=SecretRef(env="DRILLKIT_TEST_WEBHOOK"), say=said.append).started(drill_run())
    assert said == ["notify.webhook ($DRILLKIT_TEST_WEBHOOK): not notified: "
                    "InvalidInput: the secret $DRILLKIT_TEST_WEBHOOK is not set in the environment"]


def test_without_a_webhook_nothing_is_sent():
    Notifier(webhook=None, client=httpx.Client(transport=httpx.MockTransport(pytest.fail))).started(drill_run())


# The drill tells the webhook


@pytest.fixture
def notified_plan(tmp_path, monkeypatch, webhook):
    """The quarterly drill against a sandbox target whose lock lives in TMP_PATH and whose webhook fails,
    with the baseline and the experiments replaced by nothing (no sandbox here)."""
    plan = plan_drill(Path("drills/quarterly.yaml"))
    target = plan.target.model_copy(update={"state_dir": tmp_path / "state", "notify": Notify(webhook=webhook),
                                            "backups": None})  # no backup server here
    monkeypatch.setattr(drill_module, "_baseline", lambda *args: None)
    posts: list[dict] = []

    def post(self, url, json=None, **kwargs):
        posts.append(json)
        raise httpx.ConnectError("connection refused")

    monkeypatch.setattr(httpx.Client, "post", post)
    return plan.model_copy(update={"target": target}), posts


def progress() -> DrillProgress:
    from rich.console import Console

    return DrillProgress(Console(file=open("/dev/null", "w")), 60)  # noqa: SIM115 - closed with the process


def test_a_failing_webhook_does_not_fail_the_drill_and_hears_start_and_end(notified_plan, tmp_path, monkeypatch):
    plan, posts = notified_plan
    monkeypatch.setattr(drill_module, "_experiments", lambda *args: None)
    result = drill_module.run_drill(plan, tmp_path / "run", progress(), run_id=RUN_ID)
    assert result.finished_utc and not result.aborted
    assert [p["event"] for p in posts] == ["started", "ended"]
    assert posts[0]["run_id"] == RUN_ID


def test_a_drill_interrupted_tells_the_webhook_it_aborted(notified_plan, tmp_path, monkeypatch):
    plan, posts = notified_plan

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(drill_module, "_experiments", interrupted)
    drill_module.run_drill(plan, tmp_path / "run", progress(), run_id=RUN_ID)
    assert [p["event"] for p in posts] == ["started", "aborted"]
    assert posts[1]["reason"].startswith("interrupted")


def test_a_drill_that_crashes_tells_the_webhook_it_aborted_and_still_raises(notified_plan, tmp_path, monkeypatch):
    plan, posts = notified_plan

    def unsettled(*args):
        raise Aborted("the cluster did not settle with pg-a leading within 120 s")

    monkeypatch.setattr(drill_module, "_experiments", unsettled)
    with pytest.raises(Aborted):
        drill_module.run_drill(plan, tmp_path / "run", progress(), run_id=RUN_ID)
    assert [p["event"] for p in posts] == ["started", "aborted"]
    assert "did not settle" in posts[1]["reason"]


def test_a_message_never_carries_a_secret_the_run_revealed_to_the_webhook(webhook, monkeypatch):
    from drillkit import redaction

    monkeypatch.setenv("DRILLKIT_TEST_TOKEN", "app-admin-t0ken")
    token = SecretRef(env="DRILLKIT_TEST_TOKEN").reveal()
    client, bodies = receiver()
    try:
        Notifier(webhook=webhook, client=client).ended(drill_run(), error=Aborted(f"refused with {token}"))
    finally:
        redaction.forget_all()
    assert bodies and token not in json.dumps(bodies) and redaction.MASK in bodies[0]["reason"]
