"""`drillkit loadtest --kubernetes NAMESPACE`: render deploy/kubernetes/locust for one run (profile, host,
workers, objectives), apply it in NAMESPACE, wait for the master Job, and return its container's exit code
(the master is `drillkit loadtest --expect-workers N`: 0 every SLO met, 1 breached, 2 invalid, 3 aborted).

The Kubernetes client is imported lazily: a local load test never needs it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drillkit import kustomize
from drillkit.errors import Aborted, InvalidInput
from drillkit.loadtest.run import GRACE_S, WORKERS_MAX_WAIT_S
from drillkit.model.objectives import Objectives
from drillkit.model.profile import LoadProfile

__all__ = ["LocustRun", "apply", "check_namespace", "connect", "render", "report_lines", "wait"]

MASTER = "locust-master"
WORKER = "locust-worker"
SCRIPTS = "locust-scripts"
RESULTS_CLAIM = "locust-results"
RESULTS_PATH = "/results"
# Beyond the profile: the master waits up to WORKERS_MAX_WAIT_S for its workers' pods, then Locust stops and
# the reports are written; a minute more for the pods themselves to be scheduled and started.
MARGIN_S = WORKERS_MAX_WAIT_S + GRACE_S + 60
POLL_S = 2.0        # how often the master Job is read while the load runs
REQUEST_TIMEOUT_S = 10.0  # each API request: an API server that stops answering aborts the run, never hangs it
SAY_EVERY_S = 10.0  # how often a progress line is printed
JOB_GONE_TRIES = 30  # seconds for a deleted Job to leave before its successor of the same name is created
KIND_ORDER = ("ConfigMap", "PersistentVolumeClaim", "Service", "Job")  # the Jobs' pods mount the first two
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

Say = Callable[[str], None]


@dataclass(frozen=True)
class LocustRun:
    """One load test on a cluster: what the master and the workers are given."""

    namespace: str
    profile_file: Path
    profile: LoadProfile
    host: str
    workers: int
    objectives_file: Path
    objectives: Objectives
    locustfile: Path
    duration_s: float | None = None   # --duration: the profile squeezed into this many seconds
    image: str | None = None
    timeout_s: float | None = None

    @property
    def deadline_s(self) -> float:
        return self.timeout_s or (self.duration_s or self.profile.duration_s) + MARGIN_S


def check_namespace(namespace: str) -> None:
    if not _NAMESPACE.match(namespace):
        raise InvalidInput(f"--kubernetes: {namespace!r} is not a namespace name (lower-case letters, digits and "
                           "'-', at most 63, starting and ending with a letter or digit)")


# -- rendering -----------------------------------------------------------------------------------


def render(run: LocustRun, manifests: Path) -> list[dict[str, Any]]:
    """The kustomization's objects, in RUN's namespace, carrying RUN's files, host and worker count."""
    objects = kustomize.render(manifests)
    by_name = {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}
    for key in (("ConfigMap", SCRIPTS), ("Job", MASTER), ("Job", WORKER)):
        if key not in by_name:
            raise InvalidInput(f"{manifests}: the kustomization renders no {key[0]} {key[1]}")
    for obj in objects:
        obj["metadata"]["namespace"] = run.namespace
    _carry_files(by_name[("ConfigMap", SCRIPTS)], run)
    _configure_master(by_name[("Job", MASTER)], run)
    _configure_workers(by_name[("Job", WORKER)], run)
    return sorted(objects, key=lambda obj: KIND_ORDER.index(obj["kind"]) if obj["kind"] in KIND_ORDER else 99)


def _carry_files(configmap: dict[str, Any], run: LocustRun) -> None:
    data = configmap["data"]
    for key, path in (("profile.yaml", run.profile_file), ("objectives.yaml", run.objectives_file),
                      ("locustfile.py", run.locustfile)):
        try:
            data[key] = path.read_text()
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot read it ({exc.strerror or exc})") from exc


def _configure_master(job: dict[str, Any], run: LocustRun) -> None:
    job["spec"]["activeDeadlineSeconds"] = int(run.deadline_s)
    container = _container(job, "master")
    command = container["command"]
    _set_flag(command, "--host", run.host)
    _set_flag(command, "--expect-workers", str(run.workers))
    if run.duration_s is not None:
        _set_flag(command, "--duration", f"{run.duration_s:g}")
    _set_image(job, run.image)


def _configure_workers(job: dict[str, Any], run: LocustRun) -> None:
    job["spec"].update(parallelism=run.workers, completions=run.workers, activeDeadlineSeconds=int(run.deadline_s))
    container = _container(job, "worker")
    for variable in container.get("env", []):
        if variable["name"] == "DRILLKIT_LATENCY_THRESHOLD_MS":  # the workers count the fast requests
            variable["value"] = f"{run.objectives.latency_threshold_ms:g}"
    _set_image(job, run.image)


def _container(job: dict[str, Any], name: str) -> dict[str, Any]:
    for container in job["spec"]["template"]["spec"]["containers"]:
        if container["name"] == name:
            return container
    raise InvalidInput(f"Job {job['metadata']['name']}: no container named {name}")


def _set_flag(command: list[str], flag: str, value: str) -> None:
    if flag in command:
        command[command.index(flag) + 1] = value
    else:
        command += [flag, value]


def _set_image(job: dict[str, Any], image: str | None) -> None:
    if image:
        pod = job["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            container["image"] = image


# -- the API -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    core: Any   # kubernetes.client.CoreV1Api
    batch: Any  # kubernetes.client.BatchV1Api
    where: str  # the API server's URL, for messages
    timeout_s: float  # each request's limit (the client's own default is none)


def connect(kubeconfig: Path | None, context: str | None) -> Cluster:
    """A client from KUBECONFIG (or $KUBECONFIG, ~/.kube/config) and CONTEXT, else the pod's service account."""
    from kubernetes import client, config

    from drillkit import kubeclient

    try:
        api = kubeclient.api_client(kubeconfig, context)
    except (config.ConfigException, OSError, ValueError) as exc:
        raise InvalidInput(f"--kubeconfig/--context: no usable Kubernetes configuration "
                           f"({kubeclient.describe(kubeconfig, context)}: {exc})") from exc
    return Cluster(core=client.CoreV1Api(api), batch=client.BatchV1Api(api), where=api.configuration.host,
                   timeout_s=REQUEST_TIMEOUT_S)


@contextmanager
def _api(cluster: Cluster, doing: str) -> Iterator[None]:
    """The API's refusals as sentences: a 403 is the account's RBAC, a 404 a missing namespace, the rest
    whatever the server said. All abort the load test (exit 3): the inputs were valid."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from drillkit.kubeclient import timed_out

    try:
        yield
    except ApiException as exc:
        raise Aborted(f"Kubernetes refused to {doing}: {_refusal(exc)}") from exc
    except HTTPError as exc:
        if timed_out(exc):
            raise Aborted(f"the Kubernetes API at {cluster.where} did not answer within {cluster.timeout_s:g} s, "
                          f"asked to {doing}") from exc
        raise Aborted(f"cannot reach the Kubernetes API at {cluster.where} to {doing}: {exc}") from exc


def _refusal(exc: Any) -> str:
    if exc.status == 403:
        return ("403 Forbidden: the account has no RBAC permission for it; grant it create, get, list and delete "
                "on jobs, configmaps, services, persistentvolumeclaims and pods (get, list, pods/log) there")
    if exc.status == 404:
        return "404 Not Found: does the namespace exist?"
    return f"{exc.status} {exc.reason}"


def apply(cluster: Cluster, objects: list[dict[str, Any]], say: Say) -> None:
    """Delete the previous run's Jobs (their pods in the background), then create every object; a ConfigMap that
    exists is updated, a PersistentVolumeClaim or Service that exists is kept."""
    for job in (obj for obj in objects if obj["kind"] == "Job"):
        _delete_job(cluster, job["metadata"]["namespace"], job["metadata"]["name"], say)
    for obj in objects:
        _create(cluster, obj, say)


def _delete_job(cluster: Cluster, namespace: str, name: str, say: Say) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        with _api(cluster, f"delete the Job {namespace}/{name}"):
            cluster.batch.delete_namespaced_job(name, namespace, propagation_policy="Background",
                                               _request_timeout=cluster.timeout_s)
    except Aborted as exc:
        if isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 404:
            return False
        raise
    say(f"deleted the previous Job {namespace}/{name}")
    return True


_CREATE = {"ConfigMap": ("core", "config_map"), "PersistentVolumeClaim": ("core", "persistent_volume_claim"),
           "Service": ("core", "service"), "Job": ("batch", "job")}


def _create(cluster: Cluster, obj: dict[str, Any], say: Say, attempt: int = 0) -> None:
    from kubernetes.client.exceptions import ApiException

    kind, name, namespace = obj["kind"], obj["metadata"]["name"], obj["metadata"]["namespace"]
    if kind not in _CREATE:
        raise InvalidInput(f"{kind} {name}: drillkit applies only {', '.join(_CREATE)}")
    group, resource = _CREATE[kind]
    api = getattr(cluster, group)
    try:
        with _api(cluster, f"create the {kind} {namespace}/{name}"):
            getattr(api, f"create_namespaced_{resource}")(namespace, obj, _request_timeout=cluster.timeout_s)
        say(f"created {kind} {namespace}/{name}")
    except Aborted as exc:
        if not (isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 409):
            raise
        if kind == "Job" and attempt < JOB_GONE_TRIES:  # the previous one is still being deleted
            time.sleep(1)
            _create(cluster, obj, say, attempt + 1)
            return
        if kind != "ConfigMap":
            say(f"kept the existing {kind} {namespace}/{name}")
            return
        with _api(cluster, f"update the ConfigMap {namespace}/{name}"):  # the same keys: a patch replaces them all
            api.patch_namespaced_config_map(name, namespace, {"metadata": {"labels": obj["metadata"].get("labels", {})},
                                                              "data": obj["data"]}, _request_timeout=cluster.timeout_s)
        say(f"updated ConfigMap {namespace}/{name}")


# -- waiting for the verdict ---------------------------------------------------------------------


def wait(cluster: Cluster, run: LocustRun, say: Say) -> int:
    """The master container's exit code once its Job has finished; past the deadline both Jobs are deleted
    (the load stops) and the load test is aborted."""
    started = time.monotonic()
    last_said = -SAY_EVERY_S
    while True:
        with _api(cluster, f"read the Job {run.namespace}/{MASTER}"):
            master = cluster.batch.read_namespaced_job(MASTER, run.namespace, _request_timeout=cluster.timeout_s)
        if _finished(master):
            return _exit_code(cluster, run.namespace, master)
        elapsed = time.monotonic() - started
        if elapsed > run.deadline_s:
            for name in (MASTER, WORKER):
                _delete_job(cluster, run.namespace, name, say)
            raise Aborted(f"the Job {run.namespace}/{MASTER} did not finish within {run.deadline_s:g} s (the "
                          f"profile's {run.duration_s or run.profile.duration_s:.0f} s and a margin); deleted "
                          "the load test's Jobs, which stops the load")
        if elapsed - last_said >= SAY_EVERY_S:
            say(_progress(cluster, run, master, elapsed))
            last_said = elapsed
        time.sleep(POLL_S)


def _finished(job: Any) -> str | None:
    for condition in (job.status and job.status.conditions) or []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return str(condition.type)
    return None


def _progress(cluster: Cluster, run: LocustRun, master: Any, elapsed: float) -> str:
    with _api(cluster, f"read the Job {run.namespace}/{WORKER}"):
        workers = cluster.batch.read_namespaced_job(WORKER, run.namespace, _request_timeout=cluster.timeout_s)
    status = workers.status
    running = (status.active or 0) if status else 0
    done = (status.succeeded or 0) if status else 0
    master_state = "running" if master.status and master.status.active else "starting"
    return (f"{elapsed:5.0f} s / {run.duration_s or run.profile.duration_s:.0f} s  master {master_state}  "
            f"workers {running}/{run.workers} running, {done} done")


def _master_pod(cluster: Cluster, namespace: str, job: Any) -> Any | None:
    """The newest pod owned by this very Job (its uid): a pod of an older run's Job of the same name, still
    being deleted in the background, is never this run's master."""
    with _api(cluster, f"list the pods of the Job {namespace}/{MASTER}"):
        pods = cluster.core.list_namespaced_pod(namespace, label_selector=f"job-name={MASTER}",
                                                _request_timeout=cluster.timeout_s).items
    uid = job.metadata.uid if job.metadata else None
    pods = [pod for pod in pods if uid and any(owner.uid == uid for owner in pod.metadata.owner_references or [])]
    return max(pods, key=lambda pod: str(pod.metadata.creation_timestamp or ""), default=None)


def _exit_code(cluster: Cluster, namespace: str, job: Any) -> int:
    pod = _master_pod(cluster, namespace, job)
    terminated = _terminated_master(pod)
    if pod is None or terminated is None:
        reasons = [f"{c.reason}: {c.message}" for c in (job.status.conditions or []) if c.status == "True"]
        raise Aborted(f"the Job {namespace}/{MASTER} finished ({'; '.join(reasons) or _finished(job)}) but no pod "
                      "of it shows the master container's exit code: no verdict")
    if terminated.exit_code not in (0, 1, 2, 3):
        raise Aborted(f"the master's container in pod {namespace}/{pod.metadata.name} ended with exit code "
                      f"{terminated.exit_code} ({terminated.reason or 'no reason given'}): no verdict")
    return int(terminated.exit_code)


def _terminated_master(pod: Any | None) -> Any | None:
    for status in (pod.status.container_statuses or []) if pod is not None and pod.status else []:
        if status.name == "master" and status.state and status.state.terminated:
            return status.state.terminated
    return None


def report_lines(cluster: Cluster, namespace: str, tail: int = 20) -> list[str]:
    """Where the results are, and the end of the master's log (best effort: the verdict is already known)."""
    from kubernetes.client.exceptions import ApiException

    lines = [f"results: loadtest.json and junit.xml on the PersistentVolumeClaim {namespace}/{RESULTS_CLAIM} "
             f"(at {RESULTS_PATH} in the master's pod)"]
    try:
        with _api(cluster, f"read the Job {namespace}/{MASTER}"):
            job = cluster.batch.read_namespaced_job(MASTER, namespace, _request_timeout=cluster.timeout_s)
        pod = _master_pod(cluster, namespace, job)
        if pod is None:
            return lines
        log = cluster.core.read_namespaced_pod_log(pod.metadata.name, namespace, container="master", tail_lines=tail,
                                                  _request_timeout=cluster.timeout_s)
    except (ApiException, Aborted) as exc:
        return [*lines, f"the master's log is not readable: {exc}"]
    return [*lines, f"the master's log ({pod.metadata.name}, last {tail} lines):",
            *(f"  {line}" for line in str(log).splitlines()[-tail:])]
