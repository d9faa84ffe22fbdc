"""A webhook told when a drill starts, aborts and ends (the target's `notify.webhook`).

The body is JSON with a `text` field, which Slack and Microsoft Teams incoming webhooks show as the
message, and the same facts as fields of their own for any other receiver: `event` ("started",
"aborted", "ended"), `drill`, `target`, `target_kind`, `run_id`, `run_dir`, `at_utc`, and at the end
`status`, `reason`, `score`, `grade`.

The webhook's URL carries its own credential, so it is a SecretRef: it is revealed only to send, and
never written to a log or a warning (httpx's own request log is silenced for the call). A webhook that
fails is a warning; it never fails, stops or delays a drill beyond its timeout.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from drillkit import redaction
from drillkit.errors import DrillkitError
from drillkit.model.objectives import Objectives
from drillkit.model.result import DrillRun
from drillkit.model.secrets import SecretRef
from drillkit.model.target import Target
from drillkit.score import score

__all__ = ["Event", "Notifier", "ended_message", "started_message"]

Event = Literal["started", "aborted", "ended"]
TIMEOUT_S = 5.0
log = logging.getLogger(__name__)


class Notifier:
    """Sends a drill's start and end to one webhook; a notifier without a webhook says nothing."""

    def __init__(self, *, webhook: SecretRef | None, say: Callable[[str], None] | None = None,
                 client: httpx.Client | None = None) -> None:
        self.webhook = webhook
        self.say = say  # where a warning is shown besides the log (the drill's progress lines)
        self.client = client

    @classmethod
    def for_target(cls, target: Target, *, say: Callable[[str], None] | None = None) -> Notifier:
        return cls(webhook=target.notify.webhook if target.notify else None, say=say)

    def warn(self, line: str) -> None:
        log.warning(line)
        if self.say is not None:
            self.say(line)

    def started(self, run: DrillRun) -> None:
        self._send(lambda: started_message(run))

    def ended(self, run: DrillRun, error: BaseException | None = None) -> None:
        """RUN is over: "aborted" when it was (or ERROR escaped it), else "ended" with its verdict."""
        self._send(lambda: ended_message(run, error))

    def _send(self, message: Callable[[], dict[str, Any]]) -> None:
        if self.webhook is None:
            return
        where = f"notify.webhook ({self.webhook.describe()})"
        try:
            url = self.webhook.reveal()
            body = redaction.scrub(message())  # a reason quotes errors: no secret leaves for the webhook's host
        except Exception as exc:  # noqa: BLE001 - a notification never fails the drill
            self.warn(f"{where}: not notified: {type(exc).__name__}: {exc}")
            return
        try:
            with _quiet_httpx(), _client(self.client) as http:
                http.post(url, json=body).raise_for_status()
        except httpx.HTTPStatusError as exc:
            self.warn(f"{where}: {body['event']} not notified: the webhook answered {exc.response.status_code}")
        except Exception as exc:  # noqa: BLE001 - whatever the webhook does, the drill goes on
            reason = f"{type(exc).__name__}: {exc}".replace(url, "<webhook>")
            self.warn(f"{where}: {body['event']} not notified: {reason}")


def started_message(run: DrillRun) -> dict[str, Any]:
    fields = _fields(run, "started")
    fields["text"] = f"drillkit: drill {fields['drill']} started against {_against(run)}, run {run.run_id}"
    return fields


def ended_message(run: DrillRun, error: BaseException | None = None) -> dict[str, Any]:
    status, reason, scored = _outcome(run, error)
    fields = _fields(run, "aborted" if status == "aborted" else "ended")
    fields.update(status=status, reason=reason, score=None, grade=None)
    figures = ""
    if scored is not None:
        fields.update(score=scored.score, grade=scored.grade)
        figures = (f", platform score {scored.score:g}, grade {scored.grade}" if scored.score is not None
                   else ", platform not judged") + f", evidence {scored.evidence.verdict}"
    fields["text"] = (f"drillkit: drill {fields['drill']} {status.upper()} against {_against(run)}, "
                      f"run {run.run_id}{figures}: {reason}")
    return fields


def _outcome(run: DrillRun, error: BaseException | None) -> tuple[str, str, Any]:
    """(status, reason, the scored report or None): what the drill's report will say."""
    if error is not None and not run.aborted:
        return "aborted", _error_reason(error), None
    try:
        scored = score(run, Objectives.model_validate(run.objectives))
    except Exception as exc:  # noqa: BLE001 - a run too broken to score is still worth a message
        return ("aborted" if run.aborted else "unknown"), run.aborted or f"not scored: {exc}", None
    return scored.status, scored.status_reason, scored


def _error_reason(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl-C or SIGTERM)"
    kind = "" if isinstance(error, DrillkitError) else f"{type(error).__name__}: "
    return f"{kind}{error}".strip() or type(error).__name__


def _fields(run: DrillRun, event: Event) -> dict[str, Any]:
    return {"event": event, "drill": str(run.drill.get("name", "")), "target": run.target_name or run.target,
            "target_kind": run.target_kind, "run_id": run.run_id, "run_dir": run.run_dir,
            "at_utc": datetime.now(UTC).isoformat(timespec="seconds")}


def _against(run: DrillRun) -> str:
    return f"{run.target_name or run.target} ({run.target_kind or 'kind unknown'})"


def _client(given: httpx.Client | None) -> contextlib.AbstractContextManager[httpx.Client]:
    return contextlib.nullcontext(given) if given is not None else httpx.Client(timeout=TIMEOUT_S)


@contextlib.contextmanager
def _quiet_httpx() -> Iterator[None]:
    """httpx logs every request with its URL at INFO: the webhook's URL is its credential."""
    logger = logging.getLogger("httpx")
    previous = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = previous
