"""`drillkit loadtest --kubernetes NAMESPACE` against a Kubernetes API emulator on 127.0.0.1: the previous
run's Jobs go first, every object is created in the namespace, and the command exits with the exit code of
the master Job's container; a refusal (403) or a Job that never finishes aborts with a sentence."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import kmock
import pytest

from drillkit import cli, kubeclient
from drillkit.loadtest import kubernetes as k8s

from .kube_emulator import CONFIGMAPS, JOBS, PODS, Served, serving

ROOT = Path(__file__).resolve().parents[2]
NS = "load-tests"
HOST = "http://feedhub.staging.svc:8080"
MASTER_JOB = f"/apis/batch/v1/namespaces/{NS}/jobs/locust-master"
WORKER_JOB = f"/apis/batch/v1/namespaces/{NS}/jobs/locust-worker"


@pytest.fixture
def api(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)  # the kustomization and the default files are the repository's
    monkeypatch.setattr(k8s, "POLL_S", 0.05)
    monkeypatch.setattr(k8s, "SAY_EVERY_S", 0.2)
    monkeypatch.setattr(kubeclient, "SERVICE_ACCOUNT_TOKEN", tmp_path / "no-token")  # never the pod's own account
    with serving() as running:
        yield running


def drillkit(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["drillkit", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    return int(exited.value.code), " ".join((captured.out + captured.err).split())


def loadtest_args(api: Served, tmp_path: Path, *extra: str) -> list[str]:
    return ["loadtest", "loadtests/profiles/steady.yaml", "--host", HOST, "--kubernetes", NS, "--workers", "3",
            "--kubeconfig", str(api.kubeconfig(tmp_path)), *extra]


def master_pod(name: str, job_uid: str, exit_code: int) -> dict:
    """A pod of the master Job whose uid is JOB_UID, as the Job controller labels and owns it, its master
    container ended with EXIT_CODE."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS,
                     "labels": {"job-name": "locust-master", "controller-uid": job_uid},
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "locust-master",
                                          "uid": job_uid, "controller": True}]},
        "status": {"containerStatuses": [{"name": "master", "image": "drillkit:latest", "imageID": "",
                                          "ready": False, "restartCount": 0,
                                          "state": {"terminated": {"exitCode": exit_code}}}]}}


def finish_master(api: Served, exit_code: int | None, condition: str) -> threading.Thread:
    """Once the command has created the master Job: mark it finished and give it a pod whose master
    container ended with EXIT_CODE (None: no pod at all), as the Job controller and the kubelet would."""

    def finish() -> None:
        job_uid = f"uid-{len(api.bodies('POST', f'/apis/batch/v1/namespaces/{NS}/jobs'))}"
        api.objects[(JOBS, NS, "locust-master")].patch(
            {"metadata": {"uid": job_uid}, "status": {"conditions": [{"type": condition, "status": "True"}]}})
        if exit_code is not None:
            api.objects[(PODS, NS, "locust-master-x7k2p")] = master_pod("locust-master-x7k2p", job_uid, exit_code)

    created_before = len(api.bodies("POST", f"/apis/batch/v1/namespaces/{NS}/jobs"))

    def watch() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if len(api.bodies("POST", f"/apis/batch/v1/namespaces/{NS}/jobs")) > created_before:
                api.loop.call_soon_threadsafe(finish)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def previous_run(api: Served) -> None:
    for name in ("locust-master", "locust-worker"):
        api.objects[(JOBS, NS, name)] = {"apiVersion": "batch/v1", "kind": "Job",
                                         "metadata": {"name": name, "namespace": NS},
                                         "status": {"conditions": [{"type": "Complete", "status": "True"}]}}


def test_a_passing_master_exits_0_after_deleting_the_previous_jobs_and_creating_everything(
        api, tmp_path, monkeypatch, capsys):
    previous_run(api)
    api.handler[f"get /api/v1/namespaces/{NS}/pods/locust-master-x7k2p/log"] << kmock.text("judged\nPASSED\n")
    finish_master(api, exit_code=0, condition="Complete")

    code, output = drillkit(monkeypatch, capsys, *loadtest_args(api, tmp_path))

    assert code == 0, output
    changes = [(method, path, query) for method, path, query in api.requests() if method != "GET"]
    assert changes == [
        ("DELETE", MASTER_JOB, {"propagationPolicy": "Background"}),
        ("DELETE", WORKER_JOB, {"propagationPolicy": "Background"}),
        ("POST", f"/api/v1/namespaces/{NS}/configmaps", {}),
        ("POST", f"/api/v1/namespaces/{NS}/persistentvolumeclaims", {}),
        ("POST", f"/api/v1/namespaces/{NS}/services", {}),
        ("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", {}),
        ("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", {}),
    ]
    master, worker = api.bodies("POST", f"/apis/batch/v1/namespaces/{NS}/jobs")
    command = master["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--host") + 1] == HOST
    assert command[command.index("--expect-workers") + 1] == "3"
    assert worker["spec"]["parallelism"] == worker["spec"]["completions"] == 3
    assert {path.split("/namespaces/")[1].split("/")[0] for _, path, _ in api.requests()} == {NS}
    assert "master exited 0: every SLO met" in output
    assert f"PersistentVolumeClaim {NS}/locust-results" in output and "PASSED" in output


def test_a_master_that_judged_an_slo_breached_makes_the_command_exit_1(api, tmp_path, monkeypatch, capsys):
    finish_master(api, exit_code=1, condition="Failed")

    code, output = drillkit(monkeypatch, capsys, *loadtest_args(api, tmp_path))

    assert code == 1, output
    assert "master exited 1: an SLO breached" in output


def test_a_pod_left_by_an_older_run_is_never_read_as_this_runs_master(api, tmp_path, monkeypatch, capsys):
    """The previous run's master pod (passed) lingers while its Job is deleted in the background; this run's
    master Job fails before it has a pod of its own (a quota, a deadline): no verdict, not the old one."""
    api.objects[(PODS, NS, "locust-master-old01")] = master_pod("locust-master-old01", "uid-of-an-older-run", 0)
    finish_master(api, exit_code=None, condition="Failed")

    code, output = drillkit(monkeypatch, capsys, *loadtest_args(api, tmp_path))

    assert code == 3, output
    assert "no pod of it shows the master container's exit code: no verdict" in output
    assert "locust-master-old01" not in output


def test_a_second_run_updates_the_configmap_and_keeps_the_volume_and_service(api, tmp_path, monkeypatch, capsys):
    finish_master(api, exit_code=0, condition="Complete")
    drillkit(monkeypatch, capsys, *loadtest_args(api, tmp_path))
    finish_master(api, exit_code=0, condition="Complete")

    code, output = drillkit(monkeypatch, capsys, *loadtest_args(api, tmp_path))

    assert code == 0, output
    assert "updated ConfigMap" in output and "kept the existing PersistentVolumeClaim" in output
    assert ("PATCH", f"/api/v1/namespaces/{NS}/configmaps/locust-scripts", {}) in api.requests()


def test_a_master_container_killed_without_a_verdict_aborts_with_exit_3(api, tmp_path, monkeypatch, capsys):
    finish_master(api, exit_code=137, condition="Failed")

    code, output = drillkit(monkeypatch, capsys, *loadtest_args(api, tmp_path))

    assert code == 3, output
    assert f"the master's container in pod {NS}/locust-master-x7k2p ended with exit code 137" in output


def test_a_forbidden_request_aborts_with_exit_3_and_a_sentence_naming_it(api, tmp_path, monkeypatch, capsys):
    api.handler["post", CONFIGMAPS] << 403

    code, output = drillkit(monkeypatch, capsys, *loadtest_args(api, tmp_path))

    assert code == 3, output
    assert f"Kubernetes refused to create the ConfigMap {NS}/locust-scripts: 403 Forbidden: the account has no " \
           "RBAC permission for it" in output
    assert not api.bodies("POST", f"/apis/batch/v1/namespaces/{NS}/jobs"), "no load after a refusal"


def test_a_master_job_that_never_finishes_times_out_and_its_jobs_are_deleted(api, tmp_path, monkeypatch, capsys):
    code, output = drillkit(monkeypatch, capsys, *loadtest_args(api, tmp_path, "--timeout", "0.5"))

    assert code == 3, output
    assert f"the Job {NS}/locust-master did not finish within 0.5 s" in output
    deletions = [path for method, path, _ in api.requests() if method == "DELETE"]
    assert deletions[-2:] == [MASTER_JOB, WORKER_JOB]
    assert (JOBS, NS, "locust-master") not in api.objects or api.objects[(JOBS, NS, "locust-master")].deleted


def test_an_api_server_that_stops_answering_aborts_the_run_instead_of_hanging_it(api, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(k8s, "REQUEST_TIMEOUT_S", 0.3)
    api.handler[f"get {MASTER_JOB}"] << (lambda: asyncio.sleep(3), {})

    started = time.monotonic()
    code, output = drillkit(monkeypatch, capsys, *loadtest_args(api, tmp_path))

    assert code == 3, output
    assert f"did not answer within 0.3 s, asked to read the Job {NS}/locust-master" in output
    assert time.monotonic() - started < 3, "each request is made once, within its limit"


@pytest.mark.parametrize("namespace", ["Load_Tests", "-load", "x" * 64])
def test_a_namespace_that_cannot_exist_exits_2_before_any_request(api, tmp_path, monkeypatch, capsys, namespace):
    args = loadtest_args(api, tmp_path)
    args[args.index(NS)] = namespace

    code, output = drillkit(monkeypatch, capsys, *args)

    assert code == 2 and "--kubernetes" in output and "not a namespace name" in output
    assert api.requests() == []


def test_an_invalid_profile_exits_2_naming_the_file_and_field(api, tmp_path, monkeypatch, capsys):
    profile = tmp_path / "bad.yaml"
    profile.write_text("name: bad\nstages:\n  - {duration_s: -1, users: 5, spawn_rate: 1}\n")
    args = loadtest_args(api, tmp_path)
    args[1] = str(profile)

    code, output = drillkit(monkeypatch, capsys, *args)

    assert code == 2 and "bad.yaml" in output and "duration_s" in output
    assert api.requests() == []
