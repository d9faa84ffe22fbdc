"""How a load test spreads: a lone Locust, a master with local worker processes, or a master that waits
for workers connecting from elsewhere (Kubernetes pods) and starts none of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drillkit.errors import Aborted, InvalidInput
from drillkit.loadtest import run
from drillkit.loadtest.process import locustfiles

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def started(monkeypatch):
    launched: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(run.processes, "start", lambda launch, pid_file: launched.append((launch.name, launch.argv)))
    return launched


def launcher(tmp_path: Path):
    from functools import partial

    from drillkit.loadtest import process

    return partial(process.launch, host="http://127.0.0.1:8080", stages=[], locustfile=ROOT / "loadtests/locustfile.py",
                   out_dir=tmp_path)


def after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_a_master_for_external_workers_listens_on_every_interface_and_starts_no_worker(started, tmp_path):
    run._start(launcher(tmp_path), tmp_path, run.Workers(external=3))

    ((name, argv),) = started
    assert name == "locust" and "--master" in argv
    assert after(argv, "--master-bind-host") == "0.0.0.0" and after(argv, "--master-bind-port") == "5557"
    assert after(argv, "--expect-workers") == "3"


def test_local_workers_connect_to_a_master_on_loopback(started, tmp_path):
    run._start(launcher(tmp_path), tmp_path, run.Workers(local=2))

    (_, master), *workers = started
    assert after(master, "--master-bind-host") == "127.0.0.1" and after(master, "--expect-workers") == "2"
    assert [name for name, _ in workers] == ["locust-worker-1", "locust-worker-2"]


def test_local_and_external_workers_together_are_invalid():
    with pytest.raises(InvalidInput, match="--workers and --expect-workers"):
        run.Workers(local=2, external=2)


def test_the_shape_and_plugin_come_from_the_plugin_dir_when_given(tmp_path):
    for name in ("locust_shape.py", "locust_plugin.py"):
        (tmp_path / name).write_text("")
    files = locustfiles(ROOT / "loadtests/locustfile.py", plugin_dir=tmp_path).split(",")
    assert files[1:] == [str(tmp_path / "locust_shape.py"), str(tmp_path / "locust_plugin.py")]


def test_a_plugin_dir_without_the_plugin_is_invalid_naming_the_file(tmp_path):
    (tmp_path / "locust_shape.py").write_text("")
    with pytest.raises(InvalidInput, match=r"--plugin-dir: .*locust_plugin.py: no such file"):
        locustfiles(ROOT / "loadtests/locustfile.py", plugin_dir=tmp_path)


def a_finished_locust(monkeypatch, reported_workers: list[str]) -> None:
    """Locust stubbed out: it has already quit, leaving results that REPORTED_WORKERS shipped (healthy load)."""
    from drillkit.loadtest.records import RESULTS_ENV, Buckets
    from drillkit.model.objectives import Objectives

    buckets = Buckets(Objectives().latency_threshold_ms)
    for n in range(200):
        buckets.record(100 + n // 20, 20.0, None)
    results = {"threshold_ms": Objectives().latency_threshold_ms, "workers": reported_workers,
               "seconds": buckets.drain()}

    def start(launch, pid_file):
        Path(launch.env[RESULTS_ENV]).write_text(json.dumps(results))

    monkeypatch.setattr(run, "check_answers", lambda host: None)
    monkeypatch.setattr(run.processes, "start", start)
    monkeypatch.setattr(run.processes, "running", lambda pid_file: False)
    monkeypatch.setattr(run.processes, "stop", lambda pid_file, grace_s: None)


def loadtest(tmp_path: Path, workers: run.Workers) -> dict:
    from drillkit.model.objectives import Objectives
    from drillkit.model.profile import LoadProfile

    profile = LoadProfile.model_validate({"name": "steady", "stages": [{"duration_s": 10, "users": 5,
                                                                         "spawn_rate": 5}]})
    return run.run_loadtest(profile=profile, host="http://127.0.0.1:8080", locustfile=ROOT / "loadtests/locustfile.py",
                            out_dir=tmp_path, workers=workers, objectives=Objectives(), say=lambda line: None)


def test_a_run_whose_every_expected_worker_reported_is_judged(monkeypatch, tmp_path):
    a_finished_locust(monkeypatch, ["w1", "w2", "w3"])

    result = loadtest(tmp_path, run.Workers(external=3))

    assert result["passed"] and result["workers"] == result["workers_requested"] == 3


@pytest.mark.parametrize("workers", [run.Workers(external=3), run.Workers(local=3)])
def test_a_run_where_a_worker_never_reported_is_aborted_not_passed(monkeypatch, tmp_path, workers):
    a_finished_locust(monkeypatch, ["w1", "w2"])

    with pytest.raises(Aborted, match=r"only 2 of the 3 Locust workers shipped their measurements"):
        loadtest(tmp_path, workers)
