"""Each kind of stop condition, evaluated once: a Reading (fired or not, and what was seen), or
Unevaluable with a sentence when it could not be evaluated (Prometheus unreachable, the command
missing, an HTTP timeout). Dispatch is on the condition's type.

Secrets (Prometheus' bearer token or password) are revealed at the call that needs them and go into
its headers only: never into a Reading, an error or a log line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from drillkit.errors import InvalidInput
from drillkit.guard.live import LiveSamples, Window
from drillkit.model.stop import BurnRateStop, CommandStop, HttpStop, PrometheusStop, SliStop, StopCondition
from drillkit.model.target import PrometheusSettings

PROMETHEUS_TIMEOUT_S = 5.0
SERIES = ("vector", "matrix")  # result types that can be empty
LIVE_KINDS = (SliStop, BurnRateStop)  # drillkit's own probes: evaluated once the measurement runs


class Unevaluable(Exception):
    """The condition could not be evaluated; the message says why, and names no secret."""


@dataclass(frozen=True)
class Reading:
    fired: bool
    value: str


@dataclass(frozen=True)
class Sources:
    """What the conditions read: the target's Prometheus, the live samples (None: not measured, or not yet),
    and the HTTP transport (tests hand in httpx.MockTransport)."""

    prometheus: PrometheusSettings | None = None
    live: LiveSamples | None = None
    transport: httpx.BaseTransport | None = None


def evaluate(condition: StopCondition, sources: Sources, now: float) -> Reading:
    """CONDITION read once at NOW (monotonic)."""
    evaluators: dict[type, Callable[[Any, Sources, float], Reading]] = {
        SliStop: _sli, BurnRateStop: _burn_rate, PrometheusStop: _prometheus, CommandStop: _command,
        HttpStop: _http,
    }
    return evaluators[type(condition)](condition, sources, now)


def _window(sources: Sources, seconds: float, now: float) -> Window | None:
    """The live window, None when the measurement has not run through it yet and saw nothing to judge."""
    if sources.live is None:
        raise Unevaluable("no live measurement: the experiment must run drillkit's measure control")
    window = sources.live.window(seconds, now)
    if window.measured:
        _require_sight(window)
        return window
    if not window.complete:
        return None
    raise Unevaluable(f"no request of the user path was sent on time {window.span()}")


def _require_sight(window: Window) -> None:
    """A complete window in which the instrument kept too few of its requests to judge (it lagged, its
    requests were left out as its own) shows nothing of the platform: the condition cannot be evaluated,
    which stops the run unless it says otherwise. The threshold is the analysis's own per-second coverage."""
    kept, scheduled = window.sli.requests or 0, (window.sli.requests or 0) + window.sli.excluded
    if window.complete and scheduled and kept < window.min_coverage * scheduled:
        raise Unevaluable(f"the instrument kept only {kept} of the {scheduled} requests due {window.span()} "
                          "(the rest were its own stalls): the user path cannot be judged")


NOT_YET = Reading(False, "nothing to judge yet: the measurement has not run through the window")


def _sli(condition: SliStop, sources: Sources, now: float) -> Reading:
    window = _window(sources, condition.window_s, now)
    if window is None:
        return NOT_YET
    value = window.sli.availability if condition.sli == "availability" else window.sli.latency_sli
    good = window.sli.succeeded if condition.sli == "availability" else window.sli.fast
    assert value is not None and good is not None and window.sli.requests is not None  # measured
    unseen = window.unseen()  # the window's requests yet to come, all counted good: the best it can still be
    best = (good + unseen) / (window.sli.requests + unseen)
    name = "availability" if condition.sli == "availability" else "latency SLI"
    return Reading(best < condition.below, f"{name} {value:.4f} {window.describe()}, floor {condition.below:g}"
                   f"{window.partial()}")


def _burn_rate(condition: BurnRateStop, sources: Sources, now: float) -> Reading:
    window = _window(sources, condition.window_s, now)
    if window is None:
        return NOT_YET
    assert sources.live is not None and window.sli.error_rate is not None
    allowed = 1 - sources.live.objectives.availability  # the SRE workbook's burn rate: error ratio / (1 - SLO)
    burn = window.sli.error_rate / allowed
    requests = window.sli.requests or 0
    least = window.sli.error_rate * requests / (requests + window.unseen()) / allowed  # the rest all served
    return Reading(least > condition.above, f"burn rate {burn:.2f} (error ratio {window.sli.error_rate:.4f} "
                   f"{window.describe()}, budget {allowed:.4g}), limit {condition.above:g}{window.partial()}")


def _prometheus(condition: PrometheusStop, sources: Sources, now: float) -> Reading:
    settings = sources.prometheus
    if settings is None:
        raise Unevaluable("the target has no prometheus settings")
    series = query(settings, condition.query, sources.transport)
    if not series:
        return Reading(False, "no series")
    more = f" (and {len(series) - 1} more)" if len(series) > 1 else ""
    return Reading(True, f"{_series(series[0])}{more}")


def query(settings: PrometheusSettings, promql: str, transport: httpx.BaseTransport | None = None) -> list[Any]:
    """The result of an instant query (GET /api/v1/query): its `data.result` list."""
    url = str(settings.url).rstrip("/") + "/api/v1/query"
    try:
        with httpx.Client(transport=transport, timeout=PROMETHEUS_TIMEOUT_S, **_credentials(settings)) as client:
            response = client.get(url, params={"query": promql})
    except httpx.HTTPError as exc:
        raise Unevaluable(f"Prometheus at {settings.url} did not answer: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise Unevaluable(f"Prometheus at {settings.url} answered HTTP {response.status_code}: "
                          f"{_error_of(response)}")
    try:
        body = response.json()
        result = body["data"]["result"]
    except (ValueError, KeyError, TypeError):
        raise Unevaluable(f"Prometheus at {settings.url} answered something that is not a query result") from None
    if body.get("status") != "success" or not isinstance(result, list):
        raise Unevaluable(f"Prometheus at {settings.url} did not run the query: {_error_of(response)}")
    if body["data"].get("resultType") not in SERIES:  # a scalar or a string always has a value
        raise Unevaluable(f"the query returns a {body['data'].get('resultType')}, not series: it can never be "
                          "empty (compare a vector instead, e.g. `up == 0`)")
    return result


def _credentials(settings: PrometheusSettings) -> dict[str, Any]:
    try:
        if settings.token is not None:
            return {"headers": {"Authorization": f"Bearer {settings.token.reveal()}"}}
        if settings.username is not None and settings.password is not None:
            return {"auth": httpx.BasicAuth(settings.username, settings.password.reveal())}
    except InvalidInput as exc:  # names the variable or the file, never a value
        raise Unevaluable(str(exc)) from None
    return {}


def _error_of(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))[:200] or response.reason_phrase
    except ValueError:
        return response.reason_phrase


def _series(entry: Any) -> str:
    """`{job="app", instance="…"} 0` from one entry of a vector result (a scalar's value as it is)."""
    if not isinstance(entry, dict):
        return str(entry)[:200]
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted((entry.get("metric") or {}).items()))
    value = (entry.get("value") or [None, "?"])[1]
    return f"{{{labels}}} {value}"


def _command(condition: CommandStop, sources: Sources, now: float) -> Reading:
    try:
        returncode, output = _run_bounded(condition.command, condition.timeout_s)
    except subprocess.TimeoutExpired:
        raise Unevaluable(f"{condition.command[0]} did not finish within {condition.timeout_s:g} s") from None
    except OSError as exc:
        raise Unevaluable(f"{condition.command[0]} could not be run: {exc.strerror or exc}") from None
    if returncode == 0:
        return Reading(False, "exit 0")
    last = next((line for line in reversed(output.splitlines()) if line.strip()), "")
    return Reading(True, f"exit {returncode}" + (f": {last.strip()[:200]}" if last else ""))


def _run_bounded(command: list[str], timeout_s: float) -> tuple[int, str]:
    """COMMAND's exit status and output; past TIMEOUT_S it is killed with every process it started (a
    session of its own: a shell's children would otherwise outlive it, one more each evaluation)."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          text=True, start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return process.returncode, stdout + stderr


def _http(condition: HttpStop, sources: Sources, now: float) -> Reading:
    try:
        with httpx.Client(transport=sources.transport, timeout=condition.timeout_s) as client:
            response = client.get(str(condition.url))
    except httpx.HTTPError as exc:
        raise Unevaluable(f"{condition.url} did not answer: {type(exc).__name__}") from None
    ok = 200 <= response.status_code < 300
    return Reading(not ok, f"HTTP {response.status_code} from {condition.url}")
