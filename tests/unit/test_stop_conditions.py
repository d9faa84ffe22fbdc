"""Each kind of stop condition read once, from hand-built samples and httpx.MockTransport: when it fires,
what it says it saw, and when it cannot be evaluated (which stops a run unless it says on_error: ignore)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from pydantic import TypeAdapter

from drillkit.guard.kinds import Sources, Unevaluable, evaluate
from drillkit.guard.live import LiveSamples, window_of
from drillkit.guard.watch import Watch
from drillkit.measure.seconds import Judge
from drillkit.model.stop import StopCondition
from drillkit.model.target import PrometheusSettings

from .synthetic import OBJECTIVES, STEP, at, user_path

CONDITION: TypeAdapter[StopCondition] = TypeAdapter(StopCondition)
TOKEN = "pr0m-t0ken-never-written"


def condition(**fields) -> StopCondition:
    return CONDITION.validate_python({"name": "guard", **fields})


class Samples(LiveSamples):
    """Live samples handed in directly instead of tailed from samples.csv."""

    def __init__(self, rows) -> None:
        self.rows, self.interval, self.objectives, self.origin = rows, STEP, OBJECTIVES, at(0)

    def window(self, seconds, now):
        return window_of(self.rows, until=now, seconds=seconds, interval=STEP, judge=Judge.of(OBJECTIVES, 0.9),
                         origin=at(0))


def live(rows) -> Sources:
    return Sources(live=Samples(rows))


# -- live SLIs -----------------------------------------------------------------------------------------

def test_an_availability_floor_fires_when_the_user_path_fails_over_the_window():
    rows = user_path(0, 20) + user_path(20, 30, ok=False)
    reading = evaluate(condition(kind="sli", sli="availability", below=0.9, window_s=10), live(rows), at(30))
    assert reading.fired and reading.value.startswith("availability 0.0000 over 10 s up to 0 s ago")


def test_an_availability_floor_holds_while_the_user_path_is_served():
    rows = user_path(0, 20) + user_path(20, 22, ok=False) + user_path(22, 30)
    reading = evaluate(condition(kind="sli", sli="availability", below=0.5, window_s=10), live(rows), at(30))
    assert not reading.fired and "availability 0.8" in reading.value


def test_the_latency_sli_fires_on_slow_answers():
    rows = user_path(0, 30, latency=0.9)
    reading = evaluate(condition(kind="sli", sli="latency", below=0.95, window_s=10), live(rows), at(31))
    assert reading.fired and reading.value.startswith("latency SLI 0.5")  # the read-backs stay fast


def test_seconds_the_instrument_lagged_are_left_out_and_never_count_as_failures():
    rows = user_path(0, 29) + user_path(29, 30, ok=False, lag=0.5, error="timeout")  # 1 s of 10 lagged
    floor = condition(kind="sli", sli="availability", below=0.9, window_s=10)
    reading = evaluate(floor, live(rows), at(30))
    assert not reading.fired and "left out as the instrument's" in reading.value
    with pytest.raises(Unevaluable, match="no request of the user path"):  # nothing but lag: nothing to judge
        evaluate(floor, live(user_path(0, 30, ok=False, lag=0.5, error="timeout")), at(30))


def test_a_window_without_a_request_sent_on_time_cannot_be_evaluated_once_the_measurement_ran_through_it():
    floor = condition(kind="sli", sli="availability", below=0.9, window_s=10)
    with pytest.raises(Unevaluable, match="no request of the user path was sent on time over 10 s up to 0 s ago"):
        evaluate(floor, live(user_path(0, 5)), at(60))
    early = evaluate(floor, live([]), at(3))  # the measurement began 3 s ago: nothing to judge yet
    assert not early.fired and early.value.startswith("nothing to judge yet")
    with pytest.raises(Unevaluable, match="measure control"):
        evaluate(condition(kind="sli", sli="availability", below=0.9), Sources(), at(60))


def test_the_burn_rate_fires_when_errors_burn_the_budget_faster_than_the_limit():
    rows = user_path(0, 28) + user_path(28, 30, ok=False)  # about 6.7 % of the requests failed: burn 67
    sources = live(rows)
    assert evaluate(condition(kind="burn_rate", above=14.4, window_s=30), sources, at(30)).fired
    held = evaluate(condition(kind="burn_rate", above=100, window_s=30), sources, at(30))
    assert not held.fired and held.value.startswith("burn rate 66.")


def test_live_samples_are_tailed_from_the_sessions_samples_csv(tmp_path):
    from drillkit.measure.samples import FIELDS, CsvLog

    log = CsvLog(tmp_path / "samples.csv", FIELDS)
    for row in user_path(0, 10, ok=False):
        log.add(tuple(getattr(row, name) for name in FIELDS))
    log.flush()
    samples = LiveSamples(tmp_path / "samples.csv", interval=STEP, objectives=OBJECTIVES, origin=at(0), keep_s=30,
                          min_coverage=0.9, lag_s=3)
    reading = evaluate(condition(kind="sli", sli="availability", below=0.5, window_s=5),
                       Sources(live=samples), at(13))
    assert reading.fired and reading.value.startswith("availability 0.0000 over 5 s up to 3 s ago (200 requests")
    log.close()


# -- Prometheus --------------------------------------------------------------------------------------------

def prometheus(handler, **settings) -> Sources:
    return Sources(prometheus=PrometheusSettings.model_validate({"url": "http://prom.test:9090", **settings}),
                   transport=httpx.MockTransport(handler))


def vector(*series) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": list(series)}})


def test_a_prometheus_query_with_a_result_fires_and_names_the_first_series():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return vector({"metric": {"job": "app", "instance": "127.0.10.1:8000"}, "value": [1, "0"]},
                      {"metric": {"job": "app"}, "value": [1, "0"]})

    reading = evaluate(condition(kind="prometheus", query='up{job="app"} == 0'), prometheus(handler), 0)
    assert reading.fired and reading.value == '{instance="127.0.10.1:8000", job="app"} 0 (and 1 more)'
    assert seen[0].url.path == "/api/v1/query" and seen[0].url.params["query"] == 'up{job="app"} == 0'


def test_an_empty_prometheus_result_does_not_fire():
    reading = evaluate(condition(kind="prometheus", query="x > 1"), prometheus(lambda request: vector()), 0)
    assert not reading.fired


def test_a_scalar_query_can_never_be_empty_and_cannot_be_evaluated():
    scalar = httpx.Response(200, json={"status": "success", "data": {"resultType": "scalar", "result": [1, "0"]}})
    with pytest.raises(Unevaluable, match="returns a scalar, not series"):
        evaluate(condition(kind="prometheus", query="scalar(up)"), prometheus(lambda request: scalar), 0)


def test_the_bearer_token_is_revealed_into_the_header_only(monkeypatch):
    monkeypatch.setenv("PROM_TOKEN", TOKEN)
    headers = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers.get("authorization"))
        return httpx.Response(400, json={"status": "error", "error": "parse error"})

    with pytest.raises(Unevaluable) as raised:
        evaluate(condition(kind="prometheus", query="x"), prometheus(handler, token={"env": "PROM_TOKEN"}), 0)
    assert headers == [f"Bearer {TOKEN}"]
    assert "HTTP 400: parse error" in str(raised.value) and TOKEN not in str(raised.value)


def test_basic_auth_reads_the_password_from_its_file(tmp_path):
    (tmp_path / "password").write_text(f"{TOKEN}\n")
    headers = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers.get("authorization"))
        return vector()

    sources = prometheus(handler, username="drill", password={"file": str(tmp_path / "password")})
    evaluate(condition(kind="prometheus", query="x"), sources, 0)
    assert headers == [httpx.BasicAuth("drill", TOKEN)._auth_header]


def test_an_unreachable_prometheus_or_a_missing_secret_cannot_be_evaluated(monkeypatch):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(Unevaluable, match="did not answer: ConnectError"):
        evaluate(condition(kind="prometheus", query="x"), prometheus(refuse), 0)
    monkeypatch.delenv("PROM_TOKEN", raising=False)
    with pytest.raises(Unevaluable, match=r"\$PROM_TOKEN is not set"):
        evaluate(condition(kind="prometheus", query="x"), prometheus(refuse, token={"env": "PROM_TOKEN"}), 0)
    with pytest.raises(Unevaluable, match="no prometheus settings"):
        evaluate(condition(kind="prometheus", query="x"), Sources(), 0)


# -- command and HTTP ----------------------------------------------------------------------------------------

def test_a_command_fires_when_it_exits_non_zero_and_says_its_last_line():
    script = "print('replica lag 40 s'); raise SystemExit(4)"
    failing = condition(kind="command", command=[sys.executable, "-c", script])
    assert evaluate(failing, Sources(), 0).value == "exit 4: replica lag 40 s"
    assert not evaluate(condition(kind="command", command=["true"]), Sources(), 0).fired


def test_a_missing_or_hanging_command_cannot_be_evaluated():
    with pytest.raises(Unevaluable, match="could not be run"):
        evaluate(condition(kind="command", command=["/nonexistent/check"]), Sources(), 0)
    with pytest.raises(Unevaluable, match="did not finish within 0.2 s"):
        evaluate(condition(kind="command", command=["sleep", "5"], timeout_s=0.2), Sources(), 0)


def test_an_http_check_fires_on_a_non_2xx_answer_and_cannot_be_evaluated_on_a_timeout():
    check = condition(kind="http", url="http://status.test/ok")

    def answer(code):
        return Sources(transport=httpx.MockTransport(lambda request: httpx.Response(code)))

    assert evaluate(check, answer(503), 0).value == "HTTP 503 from http://status.test/ok"
    assert not evaluate(check, answer(204), 0).fired

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(Unevaluable, match="ReadTimeout"):
        evaluate(check, Sources(transport=httpx.MockTransport(hang)), 0)


# -- the watch ---------------------------------------------------------------------------------------------

def joined(watch: Watch, timeout: float) -> None:
    """Wait until every condition's evaluation has ended (one fired), or TIMEOUT."""
    deadline = time.monotonic() + timeout
    for thread in watch._threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))


def test_a_slow_condition_never_holds_back_a_fast_one():
    fired = []
    slow = condition(name="slow", kind="command", command=["sleep", "3"], every_s=0.05)
    fast = condition(name="fast", kind="command", command=["false"], every_s=0.05)
    watch = Watch([slow, fast], Sources(), on_fire=fired.append)
    started = time.monotonic()
    watch.start()
    joined(watch, 0)
    while not fired and time.monotonic() - started < 5:
        time.sleep(0.02)
    assert fired and fired[0].name == "fast" and time.monotonic() - started < 1.5
    watch.close()


def test_closing_the_watch_never_waits_for_an_evaluation_under_way_so_the_rollbacks_start_at_once():
    watch = Watch([condition(kind="command", command=["sleep", "4"], every_s=0.05)], Sources(),
                  on_fire=lambda firing: None)
    watch.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert watch.close() is None and time.monotonic() - started < 1.5


def test_the_watch_fires_once_with_the_condition_its_value_and_when():
    fired = []
    watch = Watch([condition(kind="command", command=["false"], every_s=0.05)], Sources(), on_fire=fired.append,
                  origin=0.0)
    watch.start()
    joined(watch, 5)
    firing = watch.close()
    assert fired == [firing] and firing.name == "guard" and firing.reason == "fired" and firing.value == "exit 1"
    assert firing.at_s == pytest.approx(firing.at_monotonic) and firing.at_utc.endswith("+00:00")
    assert firing.describe().startswith("ABORTED by stop condition guard: fired at ")


def test_a_condition_that_ignores_errors_never_stops_the_run_and_one_that_does_not_stops_it():
    missing = {"kind": "command", "command": ["/nonexistent/check"], "every_s": 0.05}
    fired = []
    ignoring = Watch([condition(on_error="ignore", **missing)], Sources(), on_fire=fired.append)
    ignoring.start()
    joined(ignoring, 0.3)
    assert ignoring.close() is None and fired == []
    stopping = Watch([condition(**missing)], Sources(), on_fire=fired.append)
    stopping.start()
    joined(stopping, 5)
    assert stopping.close().reason == "unevaluable" and len(fired) == 1


def test_nothing_fires_once_the_watch_is_closed():
    fired = []
    watch = Watch([condition(kind="command", command=["sleep", "0.3"], every_s=0.05)], Sources(),
                  on_fire=fired.append)
    watch.start()
    assert watch.close() is None
    watch._fire(watch._firing(watch.conditions[0], "fired", "late", 0.0, False))
    assert fired == [] and watch.fired is None


def test_the_check_before_faults_evaluates_all_but_the_live_kinds_once():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    conditions = [condition(kind="sli", sli="availability", below=0.9),
                  condition(name="prom", kind="prometheus", query="up == 0")]
    firing = Watch(conditions, prometheus(refuse), on_fire=lambda f: None).check_before_faults()
    assert firing.name == "prom" and firing.reason == "unevaluable" and firing.before_faults
    assert firing.describe() == ("ABORTED by stop condition prom: could not be evaluated before the first fault: "
                                 "Prometheus at http://prom.test:9090/ did not answer: ConnectError")


def test_a_window_the_measurement_only_began_fires_only_when_the_rest_of_it_cannot_lift_it_over_the_floor():
    floor = condition(kind="sli", sli="availability", below=0.9, window_s=30)
    blip = user_path(0, 2) + user_path(2, 3, ok=False)  # 3 s measured of 30: one failed slot is no breach yet
    reading = evaluate(floor, live(blip), at(3))
    assert not reading.fired and "only 3 s of the 30 s window measured" in reading.value
    outage = user_path(0, 1) + user_path(1, 6, ok=False)  # 5 s failed of 30: 25 good seconds could not save it
    assert evaluate(floor, live(outage), at(6)).fired


def test_a_burn_rate_over_a_window_the_measurement_only_began_fires_only_when_it_is_certain():
    burn = condition(kind="burn_rate", above=100, window_s=60)  # errors over 10 % of the window's requests
    assert not evaluate(burn, live(user_path(0, 1) + user_path(1, 2, ok=False)), at(2)).fired
    assert evaluate(burn, live(user_path(0, 1) + user_path(1, 10, ok=False)), at(10)).fired


def test_a_firing_never_holds_a_secret_the_run_revealed_even_when_the_command_printed_it():
    from drillkit import redaction

    redaction.remember(TOKEN)
    try:
        script = f"print('denied for token {TOKEN}'); raise SystemExit(1)"
        watch = Watch([condition(kind="command", command=[sys.executable, "-c", script])], Sources(),
                      on_fire=lambda firing: None)
        firing = watch.check_before_faults()
    finally:
        redaction.forget_all()
    assert firing is not None and TOKEN not in firing.value and redaction.MASK in firing.value


def test_a_command_past_its_timeout_is_killed_with_every_process_it_started():
    marker = "37.123"  # sleep's argument names the grandchild that must not outlive the check
    check = condition(kind="command", command=["sh", "-c", f"sleep {marker}; true"], timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(Unevaluable, match="did not finish within 0.5 s"):
        evaluate(check, Sources(), 0)
    assert time.monotonic() - started < 3
    time.sleep(0.2)
    left = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == "", "the command's child outlived its timeout"


def test_a_prometheus_that_answers_200_with_status_error_cannot_be_evaluated_and_never_reads_as_quiet():
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "error", "errorType": "timeout", "error": "query timed out",
                                         "data": {"resultType": "vector", "result": []}})

    with pytest.raises(Unevaluable, match="did not run the query: query timed out"):
        evaluate(condition(kind="prometheus", query="up == 0"), prometheus(refuse), 0)


def test_an_http_check_does_not_follow_a_redirect_and_fires_on_it():
    def moved(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthy":
            return httpx.Response(302, headers={"location": "http://status.test/ok"})
        return httpx.Response(200)

    reading = evaluate(condition(kind="http", url="http://status.test/healthy"),
                       Sources(transport=httpx.MockTransport(moved)), 0)
    assert reading.fired and reading.value.startswith("HTTP 302")


def test_a_complete_window_the_instrument_mostly_lost_cannot_be_evaluated():
    rows = user_path(0, 28, ok=False, lag=0.5, error="timeout") + user_path(28, 30)  # 2 s kept of 30
    floor = condition(kind="sli", sli="availability", below=0.9, window_s=30)
    with pytest.raises(Unevaluable):
        evaluate(floor, live(rows), at(30))
