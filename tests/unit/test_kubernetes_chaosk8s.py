"""The kubernetes driver makes the requests chaostoolkit-kubernetes' own actions make: the same paths,
bodies and grace periods, each pair sent to the same emulator. The driver issues them through the target's
client because the actions cannot take a kubeconfig file, a context object or a request timeout
(faults/drivers/kubernetes.py says more); this test keeps the two from drifting apart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chaosk8s.deployment.actions import scale_deployment
from chaosk8s.networking.actions import create_network_policy, remove_network_policy
from chaosk8s.pod.actions import terminate_pods
from chaosk8s.statefulset.actions import scale_statefulset
from kubernetes import client
from kubernetes.config import kube_config

from drillkit.faults.drivers.kubernetes import cut_policy, policy_name

from .kube_emulator import Cluster, seed

CUT = "drillkit:partition:region-a"


@pytest.fixture
def chaosk8s_on(cluster, monkeypatch) -> Iterator[dict[str, str]]:
    """chaostoolkit-kubernetes pointed at the emulator the way it reads its settings: KUBECONFIG and a
    KUBERNETES_CONTEXT secret. The client reads KUBECONFIG once, at import, and the actions load the
    kubeconfig into its process-wide default: both are set here, and put back."""
    kubeconfig = str(cluster.target.driver.kubeconfig)
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    default = client.Configuration._default
    yield {"KUBERNETES_CONTEXT": "emulator"}
    client.Configuration._default = default


def _changes(cluster: Cluster) -> list[tuple[str, str, object]]:
    """The requests that change the cluster, with the grace period wherever it was given (query or body)."""
    seen = [(r.method, r.path, _grace(r.params, r.body) if r.method == "DELETE" else r.body)
            for r in cluster.handler.seen if r.method in ("POST", "PATCH", "DELETE")]
    cluster.forget_requests()
    return seen


def _grace(params: dict, body: object) -> str | None:
    from_body = body.get("gracePeriodSeconds") if isinstance(body, dict) else None
    return params.get("gracePeriodSeconds") or (None if from_body is None else str(from_body))


def _replicas_only(changes: list[tuple[str, str, object]]) -> list[tuple[str, str, object]]:
    """The driver's PATCH also records the count before in an annotation: compare the spec."""
    return [(m, p, {"spec": b["spec"]} if m == "PATCH" and isinstance(b, dict) else b) for m, p, b in changes]


def test_scaling_a_deployment_and_a_statefulset_to_zero_patches_what_chaosk8s_patches(cluster, chaosk8s_on):
    scale_deployment("feedhub", 0, ns="feedhub-a", secrets=chaosk8s_on)
    scale_statefulset("pg-a", 0, ns="feedhub-a", secrets=chaosk8s_on)
    theirs = _changes(cluster)
    cluster.handler.objects.clear()
    seed(cluster.handler)
    control = cluster.control()
    control.pause("app-a")
    control.pause("pg-a")
    ours = [c for c in _replicas_only(_changes(cluster)) if c[0] == "PATCH"]
    assert ours == theirs


def test_killing_pods_without_grace_deletes_what_terminate_pods_deletes(cluster, chaosk8s_on):
    selector = cluster.target.driver.components["app-a"].selector
    terminate_pods(label_selector=selector, all=True, grace_period=0, ns="feedhub-a", secrets=chaosk8s_on)
    theirs = _changes(cluster)
    seed(cluster.handler)
    cluster.control().kill("app-a", graceful=False)
    ours = [c for c in _changes(cluster) if c[0] == "DELETE"]
    assert ours == theirs and [grace for _, _, grace in ours] == ["0", "0"]


def test_a_region_cut_creates_and_removes_the_policy_as_chaosk8s_does(cluster, chaosk8s_on):
    pods = cluster.target.driver.regions["region-a"]
    create_network_policy(spec=cut_policy(CUT, pods), ns="feedhub-a", secrets=chaosk8s_on)
    remove_network_policy(policy_name(CUT), ns="feedhub-a", secrets=chaosk8s_on)
    theirs = _changes(cluster)
    control = cluster.control()
    control.cut(CUT, "region-a", ["region-b"])
    assert control.mend(CUT) == 1
    assert _changes(cluster) == theirs
