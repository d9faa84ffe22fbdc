"""The kubernetes driver: faults on the pods and workloads a target binds in a Kubernetes cluster.

Each component is bound to its pods (an equality-based label selector in a namespace) and to the workload
that runs them (deployment/NAME or statefulset/NAME); each region to the pods a region cut isolates.

- kill(component): record the workload's replica count in its annotation drillkit.io/replicas-before
  (only when absent: a second fault never records the 0 of the first), scale it to 0, delete its pods with
  grace period 0, and wait (driver.settle_timeout_s) until no pod matches the selector. graceful=True
  deletes them with their own grace period. The component stays down until restore() or resume().
- kill_postgres(member): delete the member's pods with grace period 0; its StatefulSet recreates them. On
  Kubernetes the postmaster cannot be killed apart from its pod without pods/exec, which the drill's Role
  does not grant: Patroni goes with it, as on a lost node.
- pause(component): scale to 0 recording the replicas, as a graceful kill: a pod cannot be frozen through
  the API, so a paused component answers nothing because it is gone. resume(component): scale back to the
  recorded count, remove the annotation, and wait until that many replicas are ready.
- restore(): scale back every bound workload that carries the annotation (whoever's run left it: the
  cluster, not this process, remembers), then wait until the database has a running leader and every
  region is healthy (faults/drivers/patroni_cluster.py), within driver.settle_timeout_s.
- cut(tag, region, others): a NetworkPolicy in the region's namespace that selects the region's pods and
  allows ingress and egress only from and to those same pods. NetworkPolicies are allow-lists: everything
  else is denied both ways, the other regions and the witness, and also the load balancer, the probes and
  DNS (unlike the docker driver's cut, which spares clients outside the regions). It acts only where the
  cluster's network plugin enforces NetworkPolicies.
- cut_replication(tag, replica, primary): a NetworkPolicy on the replica's pods (Egress only) that allows
  egress to 0.0.0.0/0 except the primary pod's IP/32 (and ::/0 except its /128 when it has an IPv6 address):
  all of the replica's traffic to the primary pod goes, not only PostgreSQL's. ipBlock on pod IPs depends on
  the network plugin: some apply ipBlock to traffic leaving the cluster only. A policy of the same tag left
  by an earlier fault that was never healed is replaced, never taken for this one (its addresses may be stale).
- mend(tag): delete every NetworkPolicy labelled with the tag's hash (drillkit.io/fault, since a label value
  cannot hold a tag's ':') and annotated with the tag, in every namespace the target binds.
- superuser_dsn(member), admin_token(): from the target's secrets and Patroni's GET /cluster, as for docker.

Every request carries driver.request_timeout_s and is made once (no retries); every API error becomes a
SandboxError naming the target, what was being done and why (a 403 names the Role to change).
The client is the `kubernetes` one. chaostoolkit-kubernetes' actions (scale_deployment, scale_statefulset,
terminate_pods, create_network_policy, remove_network_policy) build a new client on every call from
$KUBECONFIG (as it was when the client was imported), KUBERNETES_CONTEXT or CHAOSTOOLKIT_IN_POD, with no
request timeout, and load it into the process-wide default configuration: they cannot take
driver.kubeconfig, driver.context or driver.request_timeout_s, and a fault that waits forever on an API
server that does not answer is not one a drill may make. The requests here are the ones those actions
make; tests/unit/test_kubernetes_chaosk8s.py sends both to one emulator and holds them equal.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from drillkit import kubeclient
from drillkit.errors import InvalidInput, SandboxError
from drillkit.faults.drivers import patroni_cluster
from drillkit.model.target import KubeComponent, KubePods, KubernetesDriver, Target

REPLICAS_BEFORE = "drillkit.io/replicas-before"  # on a workload drillkit scaled down: the count to restore
MANAGED_BY = "app.kubernetes.io/managed-by"
FAULT_LABEL = "drillkit.io/fault"  # a NetworkPolicy's fault: a hash of its tag
TAG_ANNOTATION = "drillkit.io/tag"  # ... and the tag itself
RBAC_FILE = "deploy/kubernetes/drill/rbac.yaml"
POLL_S = 0.25


def tag_hash(tag: str) -> str:
    """A label value standing for TAG (label values allow no ':')."""
    return hashlib.sha256(tag.encode()).hexdigest()[:16]


def policy_name(tag: str) -> str:
    return f"drillkit-cut-{tag_hash(tag)}"


def label_selector(selector: str) -> dict[str, Any]:
    """An equality-based selector string as a LabelSelector: a=b,c!=d -> matchLabels and NotIn."""
    labels: dict[str, str] = {}
    expressions = []
    for term in selector.split(","):
        if "!=" in term:
            key, value = term.split("!=", 1)
            expressions.append({"key": key, "operator": "NotIn", "values": [value]})
        else:
            key, value = term.replace("==", "=").split("=", 1)
            labels[key] = value
    return {"matchLabels": labels, **({"matchExpressions": expressions} if expressions else {})}


def cut_policy(tag: str, pods: KubePods) -> dict[str, Any]:
    """The NetworkPolicy that isolates PODS: ingress from and egress to those same pods only."""
    same_region = [{"podSelector": label_selector(pods.selector)}]  # no namespaceSelector: its own namespace
    return _policy(tag, pods.namespace, {
        "podSelector": label_selector(pods.selector), "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": same_region}], "egress": [{"to": same_region}]})


def replication_policy(tag: str, replica: KubePods, primary_addresses: list[str]) -> dict[str, Any]:
    """The NetworkPolicy that lets REPLICA's pods send anywhere but to PRIMARY_ADDRESSES."""
    v4 = [f"{a}/32" for a in primary_addresses if ":" not in a]
    v6 = [f"{a}/128" for a in primary_addresses if ":" in a]
    blocks = [{"ipBlock": {"cidr": "0.0.0.0/0", "except": v4}}]
    if v6:
        blocks.append({"ipBlock": {"cidr": "::/0", "except": v6}})
    return _policy(tag, replica.namespace, {
        "podSelector": label_selector(replica.selector), "policyTypes": ["Egress"], "egress": [{"to": blocks}]})


def _policy(tag: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": policy_name(tag), "namespace": namespace,
                         "labels": {MANAGED_BY: "drillkit", FAULT_LABEL: tag_hash(tag)},
                         "annotations": {TAG_ANNOTATION: tag}},
            "spec": spec}


@dataclass(frozen=True)
class Workload:
    """A component's workload: deployment/NAME or statefulset/NAME in its namespace."""

    kind: str
    name: str
    namespace: str

    @classmethod
    def of(cls, component: KubeComponent) -> Workload:
        kind, name = component.workload.split("/", 1)
        return cls(kind, name, component.namespace)

    @property
    def resource(self) -> str:
        return "deployments" if self.kind == "deployment" else "statefulsets"

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} in namespace {self.namespace}"


class KubernetesControl:
    def __init__(self, target: Target, *, api_client: client.ApiClient | None = None) -> None:
        if not isinstance(target.driver, KubernetesDriver):
            raise SandboxError(f"target {target.name!r} does not use the kubernetes driver")
        self.target = target
        self.settings: KubernetesDriver = target.driver
        self.api = api_client if api_client is not None else connect(target)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.network = client.NetworkingV1Api(self.api)
        self.version = client.VersionApi(self.api)

    # the Driver protocol

    def kill(self, component: str, *, graceful: bool) -> None:
        spec = self._component(component)
        pods = self._pods(spec, f"killing {component}")
        self._scale_down(spec)
        for pod in pods:
            self._delete_pod(pod, spec.namespace, grace_s=None if graceful else 0)
        self._wait_gone(spec, f"killing {component}")

    def kill_postgres(self, member: str) -> None:
        spec = self._component(member)
        pods = self._pods(spec, f"killing {member}'s pods")
        for pod in pods:
            self._delete_pod(pod, spec.namespace, grace_s=0)
        self._wait_gone(spec, f"killing {member}'s pods", [pod.metadata.uid for pod in pods])

    def pause(self, component: str) -> None:
        self.kill(component, graceful=True)

    def resume(self, component: str) -> None:
        spec = self._component(component)
        self._scale_back(spec)
        self._wait_ready(spec)

    def restore(self) -> None:
        """Scale back every bound workload drillkit scaled down, wait until they are ready, then until the
        environment is healthy."""
        scaled = [spec for spec in self._bound_components() if self._scale_back(spec)]
        for spec in scaled:
            self._wait_ready(spec)
        patroni_cluster.wait_healthy(self.target, self.settings.settle_timeout_s)

    def cut(self, tag: str, region: str, others: list[str]) -> None:
        self.target.region(region)
        pods = self.settings.regions[region]  # validation binds every region
        self._pods(pods, f"cutting {region} off")
        self._create_policy(cut_policy(tag, pods), f"cutting {region} off")

    def cut_replication(self, tag: str, replica: str, primary: str) -> None:
        doing = f"cutting {replica} off from {primary}"
        replica_spec, primary_spec = self._component(replica), self._component(primary)
        self._pods(replica_spec, doing)
        addresses = [a for pod in self._pods(primary_spec, doing) for a in _addresses(pod)]
        if not addresses:
            raise SandboxError(f"target {self.target.name!r}: {primary}'s pods ({primary_spec.selector!r} in "
                               f"namespace {primary_spec.namespace}) have no IP address yet, {doing}")
        self._create_policy(replication_policy(tag, replica_spec, addresses), doing)

    def mend(self, tag: str) -> int:
        """Delete TAG's NetworkPolicies in every namespace the target binds; how many went."""
        removed = 0
        for namespace in self._namespaces():
            with self._asking("list", "networkpolicies", namespace, f"looking for the policies of {tag}"):
                found = self.network.list_namespaced_network_policy(
                    namespace, label_selector=f"{FAULT_LABEL}={tag_hash(tag)}", _request_timeout=self._timeout)
            for policy in found.items:
                meta = policy.metadata
                if meta is not None and meta.name and (meta.annotations or {}).get(TAG_ANNOTATION) == tag:
                    removed += self._delete_policy(meta.name, namespace, f"mending {tag}")
        return removed

    def superuser_dsn(self, member: str) -> str:
        return patroni_cluster.superuser_dsn(self.target, self.settings.superuser, member)

    def admin_token(self) -> str:
        return patroni_cluster.admin_token(self.target)

    # the preflight's questions

    def api_version(self) -> str:
        """The API server's version, asked through the configured context: proof that it answers."""
        with self._asking("get", "/version", None, "asking the API server's version"):
            return str(self.version.get_code(_request_timeout=self._timeout).git_version)

    def problems(self) -> list[str]:
        """What keeps a fault from acting: a bound workload that does not exist or cannot be read."""
        problems = []
        for spec in self._bound_components():
            try:
                self._read_workload(spec, f"checking {Workload.of(spec)}")
            except SandboxError as exc:
                problems.append(str(exc))
        return problems

    # workloads

    def _scale_down(self, spec: KubeComponent) -> None:
        """Replicas to 0, the count before recorded on the workload unless an earlier fault recorded it."""
        workload = self._read_workload(spec, f"scaling {Workload.of(spec)} to 0")
        change: dict[str, Any] = {"spec": {"replicas": 0}}
        if REPLICAS_BEFORE not in (workload.metadata.annotations or {}):
            before = workload.spec.replicas if workload.spec.replicas is not None else 1
            change["metadata"] = {"annotations": {REPLICAS_BEFORE: str(before)}}
        self._patch_workload(spec, change, f"scaling {Workload.of(spec)} to 0")

    def _scale_back(self, spec: KubeComponent) -> bool:
        """Replicas back to the recorded count and the record removed; False when nothing was recorded."""
        doing = f"scaling {Workload.of(spec)} back"
        workload = self._read_workload(spec, doing)
        before = (workload.metadata.annotations or {}).get(REPLICAS_BEFORE)
        if before is None:
            return False
        try:
            replicas = int(before)
        except ValueError as exc:
            raise SandboxError(f"target {self.target.name!r}: {Workload.of(spec)} has {REPLICAS_BEFORE}="
                               f"{before!r}, not a replica count: set its replicas by hand") from exc
        self._patch_workload(spec, {"metadata": {"annotations": {REPLICAS_BEFORE: None}},
                                    "spec": {"replicas": replicas}}, doing)
        return True

    def _read_workload(self, spec: KubeComponent, doing: str) -> Any:
        workload = Workload.of(spec)
        read = (self.apps.read_namespaced_deployment if workload.kind == "deployment"
                else self.apps.read_namespaced_stateful_set)
        with self._asking("get", workload.resource, workload.namespace, doing, missing=workload):
            return read(workload.name, workload.namespace, _request_timeout=self._timeout)

    def _patch_workload(self, spec: KubeComponent, change: dict[str, Any], doing: str) -> None:
        workload = Workload.of(spec)
        patch = (self.apps.patch_namespaced_deployment if workload.kind == "deployment"
                 else self.apps.patch_namespaced_stateful_set)
        with self._asking("patch", workload.resource, workload.namespace, doing, missing=workload):
            patch(workload.name, workload.namespace, change, _request_timeout=self._timeout)

    def _wait_ready(self, spec: KubeComponent) -> None:
        workload = Workload.of(spec)
        deadline = time.monotonic() + self.settings.settle_timeout_s
        while True:
            found = self._read_workload(spec, f"waiting for {workload} to be ready")
            wanted, ready = found.spec.replicas or 0, (found.status.ready_replicas or 0) if found.status else 0
            if ready >= wanted:
                return
            if time.monotonic() > deadline:
                raise SandboxError(f"target {self.target.name!r}: {workload} had {ready} of {wanted} replicas ready "
                                   f"after {self.settings.settle_timeout_s:g} s (driver.settle_timeout_s)")
            time.sleep(POLL_S)

    # pods

    def _pods(self, spec: KubePods, doing: str) -> list[Any]:
        """The pods SPEC selects; SandboxError when there is none (a fault would act on nothing)."""
        found = self._list_pods(spec, doing)
        if not found:
            raise SandboxError(f"target {self.target.name!r}: no pod matches the selector {spec.selector!r} in "
                               f"namespace {spec.namespace}, {doing}")
        return found

    def _list_pods(self, spec: KubePods, doing: str) -> list[Any]:
        with self._asking("list", "pods", spec.namespace, doing):
            return list(self.core.list_namespaced_pod(spec.namespace, label_selector=spec.selector,
                                                      _request_timeout=self._timeout).items)

    def _delete_pod(self, pod: Any, namespace: str, grace_s: int | None) -> None:
        try:
            with self._asking("delete", "pods", namespace, f"deleting the pod {pod.metadata.name}"):
                self.core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=grace_s,
                                                _request_timeout=self._timeout)
        except SandboxError as exc:
            if not _status(exc, 404):
                raise  # a pod already gone is what was asked

    def _wait_gone(self, spec: KubePods, doing: str, uids: list[str] | None = None) -> None:
        """Until no pod matches SPEC; with UIDS, until none of those pods is left (a StatefulSet's
        replacement takes its predecessor's name)."""
        deadline = time.monotonic() + self.settings.settle_timeout_s
        while left := [p for p in self._list_pods(spec, doing) if not uids or p.metadata.uid in uids]:
            if time.monotonic() > deadline:
                raise SandboxError(f"target {self.target.name!r}: {len(left)} pod(s) matching {spec.selector!r} "
                                   f"in namespace {spec.namespace} still there after "
                                   f"{self.settings.settle_timeout_s:g} s (driver.settle_timeout_s), {doing}")
            time.sleep(POLL_S)

    # network policies

    def _create_policy(self, policy: dict[str, Any], doing: str) -> None:
        """Create POLICY; one of the same name (the same tag, left by an earlier fault that was never healed)
        is replaced: its pods and addresses may be stale, and this fault must be the one in force."""
        namespace, name = policy["metadata"]["namespace"], policy["metadata"]["name"]
        body = client.V1NetworkPolicy.from_dict(policy)
        assert body is not None  # from a dict, never None
        try:
            with self._asking("create", "networkpolicies", namespace, doing):
                self.network.create_namespaced_network_policy(namespace, body, _request_timeout=self._timeout)
        except SandboxError as exc:
            if not _status(exc, 409):
                raise
            self._delete_policy(name, namespace, f"replacing the policy {name} left by an earlier fault, {doing}")
            with self._asking("create", "networkpolicies", namespace, doing):
                self.network.create_namespaced_network_policy(namespace, body, _request_timeout=self._timeout)

    def _delete_policy(self, name: str, namespace: str, doing: str) -> int:
        try:
            with self._asking("delete", "networkpolicies", namespace, doing):
                self.network.delete_namespaced_network_policy(name, namespace, _request_timeout=self._timeout)
        except SandboxError as exc:
            if _status(exc, 404):
                return 0  # deleted meanwhile
            raise
        return 1

    # the target's bindings

    def _component(self, name: str) -> KubeComponent:
        spec = self.settings.components.get(name)
        if spec is None:
            raise InvalidInput(f"target {self.target.name!r}: driver.components binds no {name!r} (it binds: "
                               f"{', '.join(self.settings.components)})")
        return spec

    def _bound_components(self) -> list[KubeComponent]:
        """Every bound component (the witness among them), one per workload."""
        unique = {(spec.namespace, spec.workload): spec for spec in self.settings.components.values()}
        return list(unique.values())

    def _namespaces(self) -> list[str]:
        pods: list[KubePods] = [*self.settings.components.values(), *self.settings.regions.values()]
        return sorted({spec.namespace for spec in pods})

    @property
    def _timeout(self) -> float:
        return self.settings.request_timeout_s

    @contextmanager
    def _asking(self, verb: str, resource: str, namespace: str | None, doing: str,
                missing: Workload | None = None) -> Iterator[None]:
        """The API's errors as a sentence naming the target, what was being done and why."""
        try:
            yield
        except ApiException as exc:
            raise SandboxError(self._refusal(exc, verb, resource, namespace, doing, missing)) from exc
        except (urllib3.exceptions.HTTPError, TimeoutError, OSError) as exc:
            raise SandboxError(self._failure(exc, doing)) from exc

    def _refusal(self, exc: ApiException, verb: str, resource: str, namespace: str | None, doing: str,
                 missing: Workload | None) -> str:
        where = f"target {self.target.name!r}: the Kubernetes API refused {doing}"
        if exc.status == 403:
            scope = f"in namespace {namespace}" if namespace else "cluster-wide"
            return (f"{where} (403): the drill's service account may not {verb} {resource} {scope} (RBAC): grant "
                    f"it in {RBAC_FILE}")
        if exc.status == 404 and missing is not None:
            return f"{where} (404): {missing} does not exist (the target binds it in driver.components)"
        return f"{where} ({exc.status} {exc.reason}): {_message(exc)}"

    def _failure(self, exc: Exception, doing: str) -> str:
        if kubeclient.timed_out(exc):
            return (f"target {self.target.name!r}: the Kubernetes API at {self.api.configuration.host} did not answer "
                    f"within {self._timeout:g} s (driver.request_timeout_s), {doing}")
        return f"target {self.target.name!r}: the Kubernetes API at {self.api.configuration.host} failed {doing}: {exc}"


def connect(target: Target) -> client.ApiClient:
    """A client for the target's cluster: driver.kubeconfig and driver.context when set; else the pod's
    service account when drillkit runs in the cluster; else the kubeconfig's current context."""
    settings = target.driver
    assert isinstance(settings, KubernetesDriver)
    try:
        return kubeclient.api_client(settings.kubeconfig, settings.context)
    except (ConfigException, OSError, ValueError) as exc:
        raise SandboxError(f"target {target.name!r}: no Kubernetes client configuration ({describe(settings)}): "
                           f"{exc}") from exc


def describe(settings: KubernetesDriver) -> str:
    """Which credentials connect() uses, in words."""
    return kubeclient.describe(settings.kubeconfig, settings.context)


def _addresses(pod: Any) -> list[str]:
    status = pod.status
    if status is None:
        return []
    found = [entry.ip for entry in status.pod_ips or []] + [status.pod_ip]
    return list(dict.fromkeys(a for a in found if a))


def _status(exc: SandboxError, status: int) -> bool:
    cause = exc.__cause__
    return isinstance(cause, ApiException) and cause.status == status


def _message(exc: ApiException) -> str:
    """The Status object's message when the API sent one, else the body as it came."""
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.body)
    except ValueError:
        return str(exc.body)

