"""The measurement session drives a real probe process against a small local Feed Hub stand-in."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from drillkit import durable
from drillkit.measure import dsn_ledger
from drillkit.measure.session import MeasurementSession, MeasureSettings
from drillkit.model.objectives import Objectives
from drillkit.model.target import Target

TOKEN = "tok-c0ffee-2b4d6f"
PASSWORD = "pw-d15ea5e-9a8b"


class FeedHub(BaseHTTPRequestHandler):
    """Just enough of the app and of Patroni: items, the ledger, /cluster."""

    ledger: dict[str, list[int]] = {}
    authorizations: set[str | None] = set()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.authorizations.add(self.headers.get("authorization"))
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.path == "/api/ledger":
            self.ledger.setdefault(body["writer"], []).append(body["seq"])
        self._answer(201, {"id": 1})

    def do_GET(self) -> None:  # noqa: N802
        if self.path != "/cluster":
            self.authorizations.add(self.headers.get("authorization"))
        if self.path.startswith("/api/ledger/"):
            self._answer(200, {"seqs": self.ledger.get(self.path.rsplit("/", 1)[1], [])})
        elif self.path == "/cluster":
            self._answer(200, {"members": [{"name": "pg-a", "role": "leader", "state": "running"},
                                           {"name": "pg-b", "role": "replica", "state": "streaming", "lag": 0}]})
        else:
            self._answer(200, {"items": []})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[Target]:
    FeedHub.ledger, FeedHub.authorizations = {}, set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FeedHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    region = lambda name: {"address": "127.0.0.1", "app": {"component": f"app-{name}", "url": url},  # noqa: E731
                           "database": {"component": f"pg-{name}", "patroni_api": url}}
    yield Target.model_validate({"name": "local", "kind": "sandbox", "driver": {"type": "process"},
                                 "endpoint": url, "regions": {"region-a": region("a"), "region-b": region("b")}})
    server.shutdown()


def with_changes(target: Target, **changes: object) -> Target:
    return Target.model_validate({**target.model_dump(mode="json", exclude_none=True), **changes})


def session(target: Target, tmp_path: Path) -> MeasurementSession:
    settings = MeasureSettings(interval_s=0.1, write_interval_s=0.2, reconcile_timeout_s=3, stable_window_s=1)
    return MeasurementSession(target=target, out_dir=tmp_path, settings=settings, objectives=Objectives())


def test_the_probe_process_records_every_prober_and_the_ledger_and_reads_the_ledger_back(target, tmp_path):
    measured = session(target, tmp_path)
    measured.start()
    time.sleep(1.5)
    measured.stop()
    probers = {s.prober for s in measured.samples}
    assert probers == {"global/write_read", "global/read", "region-a/read", "region-b/read"}
    assert all(s.error == "" and s.sent is not None for s in measured.samples)
    assert len(measured.writes) >= 10 and all(w.acked_at is not None for w in measured.writes)
    assert measured.stored == {w: set(seqs) for w, seqs in FeedHub.ledger.items()}
    assert measured.leaders and measured.leaders[0][1] == "pg-a"
    assert measured.reconcile_error is None


def test_the_probe_process_runs_in_a_process_of_its_own(target, tmp_path):
    measured = session(target, tmp_path)
    measured.start()
    try:
        pid = json.loads((tmp_path / "probe.json").read_text())["pid"]
        assert pid != os.getpid()
    finally:
        measured.stop()


def test_the_parent_sees_rows_while_the_probe_process_runs(target, tmp_path):
    measured = session(target, tmp_path)
    measured.start()
    try:
        time.sleep(1.5)  # the process flushes at least every second
        measured.refresh()
        assert len(measured.samples) >= 20
    finally:
        measured.stop()


def test_a_probe_process_that_dies_is_noticed_and_what_it_wrote_is_kept(target, tmp_path):
    measured = session(target, tmp_path)
    measured.start()
    time.sleep(1.5)
    os.kill(json.loads((tmp_path / "probe.json").read_text())["pid"], signal.SIGKILL)
    time.sleep(0.2)
    assert measured.wait_for_recovery(settled_after=time.monotonic()) == "probe process died"
    measured.stop()
    assert "exited with code -9" in measured.died
    assert len(measured.samples) >= 20
    assert measured.stored is None and "no ledger read-back" in measured.reconcile_error
    assert measured.summary("interrupted")["stopped"].startswith("interrupted; the probe process exited")


def test_measurement_goes_on_until_a_stable_window_after_the_rollbacks(target, tmp_path):
    measured = session(target, tmp_path)
    measured.start()
    try:
        settled = time.monotonic() + 0.5
        assert measured.wait_for_recovery(settled_after=settled) == "stable"
        assert time.monotonic() >= settled + 1  # a whole window, entirely after the rollbacks
    finally:
        measured.stop()


def test_a_bearer_token_and_a_ledger_password_reach_the_probes_yet_no_file_of_the_run(target, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_PROBE_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_LEDGER_DSN", f"host=127.0.0.1 port=1 dbname=x user=u password={PASSWORD}")
    secret = with_changes(target, probes={"token": {"env": "TEST_PROBE_TOKEN"}},
                          ledger={"mode": "dsn", "dsn": {"env": "TEST_LEDGER_DSN"}})
    run = tmp_path / "run"
    measured = session(secret, run)
    measured.start()
    time.sleep(1.5)
    measured.stop()
    durable.write_json(run / "measurements.json", measured.summary())
    assert FeedHub.authorizations == {f"Bearer {TOKEN}"}  # every probe carried the token
    files = [path for path in run.rglob("*") if path.is_file()]
    assert {"probe-config.json", "samples.csv", "stored.json", "probe.log", "measurements.json"} <= {
        path.name for path in files}
    leaked = [path.name for path in files if TOKEN in path.read_text() or PASSWORD in path.read_text()]
    assert leaked == []


def test_a_ledger_table_that_cannot_be_created_leaves_the_rpo_not_measured_and_the_probes_running(target, tmp_path,
                                                                                                 monkeypatch):
    monkeypatch.setenv("TEST_LEDGER_DSN", "host=127.0.0.1 port=1 dbname=x user=u connect_timeout=2")
    dsn_target = with_changes(target, ledger={"mode": "dsn", "dsn": {"env": "TEST_LEDGER_DSN"}})
    measured = session(dsn_target, tmp_path)
    measured.start()
    time.sleep(1.0)
    measured.stop()
    rpo = measured.summary()["rpo"]
    assert measured.writes == [] and len(measured.samples) >= 10
    assert rpo["status"] == "not measured" and "drillkit_ledger could not be created" in rpo["reason"]


def test_a_malformed_ledger_dsn_leaves_the_rpo_not_measured_without_quoting_any_part_of_it(target, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setenv("TEST_LEDGER_DSN", "host=127.0.0.1 port=1 dbname=x user=u password=pw 5ca1ab1e")
    measured = session(with_changes(target, ledger={"mode": "dsn", "dsn": {"env": "TEST_LEDGER_DSN"}}), tmp_path)
    measured.start()
    measured.stop()
    rpo = measured.summary()["rpo"]
    assert rpo["status"] == "not measured" and "malformed" in rpo["reason"]
    leaked = [path.name for path in tmp_path.rglob("*") if path.is_file() and "5ca1ab1e" in path.read_text()]
    assert leaked == []


def test_a_session_that_cannot_start_its_probe_process_removes_the_ledger_table_it_made(target, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_LEDGER_DSN", f"host=127.0.0.1 port=1 dbname=x user=u password={PASSWORD}")
    cleaned: list[bool] = []
    monkeypatch.setattr(dsn_ledger, "prepare", lambda dsn: True)
    monkeypatch.setattr(dsn_ledger, "clean_up", lambda dsn, writers, *, created: cleaned.append(created) or "dropped")
    monkeypatch.setattr(MeasurementSession, "_wait_until_running", lambda self: (_ for _ in ()).throw(
        RuntimeError("the probe process did not start within 15 s")))
    measured = session(with_changes(target, ledger={"mode": "dsn", "dsn": {"env": "TEST_LEDGER_DSN"}}), tmp_path)
    with pytest.raises(RuntimeError, match="did not start"):
        measured.start()
    assert cleaned == [True]
    assert measured._process is not None and measured._process.poll() is not None  # and it probes no more
