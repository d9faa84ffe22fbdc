"""The kubernetes driver against a Kubernetes API emulator speaking real HTTP on 127.0.0.1: the exact
requests each fault and heal makes, the cluster's state after them, and its errors as sentences."""

from __future__ import annotations

import asyncio

import pytest
from chaoslib.exceptions import ActivityFailed

from drillkit.errors import SandboxError
from drillkit.faultlog import FaultLog
from drillkit.faults.app import actions as app_actions
from drillkit.faults.drivers.kubernetes import REPLICAS_BEFORE, KubernetesControl, policy_name, tag_hash
from drillkit.faults.region import actions as region_actions

from .kube_emulator import (
    DEPLOYMENTS,
    PODS,
    POLICIES,
    STATEFULSETS,
    Cluster,
    names,
    seed,
    state,
)
from .test_cli_exit_codes import _drillkit

APPS = "/apis/apps/v1/namespaces"
CUT_A = "drillkit:partition:region-a"


def _feedhub_a(cluster: Cluster) -> dict:
    found = state(cluster.handler, DEPLOYMENTS, "feedhub-a", "feedhub")
    assert found is not None
    return found


# kill, pause, resume

def test_kill_records_the_replicas_scales_to_zero_and_deletes_the_pods_without_grace(cluster):
    cluster.control().kill("app-a", graceful=False)

    selector = {"labelSelector": "app.kubernetes.io/name=feedhub,app.kubernetes.io/component=app"}
    assert cluster.requests() == [
        ("GET", "/api/v1/namespaces/feedhub-a/pods", selector, None),
        ("GET", f"{APPS}/feedhub-a/deployments/feedhub", {}, None),
        ("PATCH", f"{APPS}/feedhub-a/deployments/feedhub", {},
         {"spec": {"replicas": 0}, "metadata": {"annotations": {REPLICAS_BEFORE: "2"}}}),
        ("DELETE", "/api/v1/namespaces/feedhub-a/pods/feedhub-1", {"gracePeriodSeconds": "0"}, None),
        ("DELETE", "/api/v1/namespaces/feedhub-a/pods/feedhub-2", {"gracePeriodSeconds": "0"}, None),
        ("GET", "/api/v1/namespaces/feedhub-a/pods", selector, None),
    ]
    deployment = _feedhub_a(cluster)
    assert deployment["spec"]["replicas"] == 0 and deployment["metadata"]["annotations"] == {REPLICAS_BEFORE: "2"}
    assert names(cluster.handler, PODS, "feedhub-a") == ["pg-a-0"], "only the app's pods went"
    assert names(cluster.handler, PODS, "feedhub-b") == ["feedhub-1", "feedhub-2", "pg-b-0"]


def test_every_request_carries_the_contexts_credentials(cluster):
    cluster.control().kill("app-a", graceful=False)
    assert {r.authorization for r in cluster.handler.seen} == {"Bearer drill-token"}


def test_a_graceful_kill_leaves_the_grace_period_to_the_pods(cluster):
    cluster.control().kill("pg-b", graceful=True)
    deletes = [(path, params) for method, path, params, _ in cluster.requests() if method == "DELETE"]
    assert deletes == [("/api/v1/namespaces/feedhub-b/pods/pg-b-0", {})]
    assert state(cluster.handler, STATEFULSETS, "feedhub-b", "pg-b")["spec"]["replicas"] == 0


def test_a_second_fault_on_a_scaled_down_workload_keeps_the_first_recorded_count(cluster):
    control = cluster.control()
    control.pause("app-a")
    cluster.handler.objects[PODS, "feedhub-a", "feedhub-9"] = {
        "metadata": {"name": "feedhub-9", "namespace": "feedhub-a", "labels": {
            "app.kubernetes.io/name": "feedhub", "app.kubernetes.io/component": "app"}}}
    control.kill("app-a", graceful=False)
    patches = [body for method, _, _, body in cluster.requests() if method == "PATCH"]
    assert patches[-1] == {"spec": {"replicas": 0}}, "the annotation still says 2"
    assert _feedhub_a(cluster)["metadata"]["annotations"] == {REPLICAS_BEFORE: "2"}


def test_resume_scales_back_to_the_recorded_count_and_removes_the_record(cluster):
    control = cluster.control()
    control.pause("app-a")
    cluster.forget_requests()
    control.resume("app-a")
    assert cluster.requests() == [
        ("GET", f"{APPS}/feedhub-a/deployments/feedhub", {}, None),
        ("PATCH", f"{APPS}/feedhub-a/deployments/feedhub", {},
         {"metadata": {"annotations": {REPLICAS_BEFORE: None}}, "spec": {"replicas": 2}}),
        ("GET", f"{APPS}/feedhub-a/deployments/feedhub", {}, None),  # ready?
    ]
    deployment = _feedhub_a(cluster)
    assert deployment["spec"]["replicas"] == 2 and not deployment["metadata"].get("annotations")


def test_resume_waits_for_the_ready_replicas_and_names_the_limit(cluster):
    control = cluster.control()
    control.pause("app-a")
    cluster.handler.controller = False  # no controller starts the pods
    cluster.handler.objects[DEPLOYMENTS, "feedhub-a", "feedhub"].patch({"status": {"readyReplicas": 0}})
    with pytest.raises(SandboxError, match=r"deployment/feedhub in namespace feedhub-a had 0 of 2 replicas ready "
                                           r"after 1 s \(driver.settle_timeout_s\)"):
        control.resume("app-a")


def test_kill_postgres_deletes_the_members_pod_without_grace_and_leaves_its_statefulset(cluster):
    cluster.control().kill_postgres("pg-a")
    assert cluster.requests() == [
        ("GET", "/api/v1/namespaces/feedhub-a/pods", {"labelSelector": "app.kubernetes.io/name=patroni,"
                                                                        "patroni/member=pg-a"}, None),
        ("DELETE", "/api/v1/namespaces/feedhub-a/pods/pg-a-0", {"gracePeriodSeconds": "0"}, None),
        ("GET", "/api/v1/namespaces/feedhub-a/pods", {"labelSelector": "app.kubernetes.io/name=patroni,"
                                                                        "patroni/member=pg-a"}, None),
    ]
    assert state(cluster.handler, STATEFULSETS, "feedhub-a", "pg-a")["spec"]["replicas"] == 1


# network policies

def test_a_region_cut_is_a_policy_letting_the_regions_pods_talk_only_to_each_other(cluster):
    cluster.control().cut(CUT_A, "region-a", ["region-b"])
    region = {"matchLabels": {"drillkit.io/region": "region-a"}}
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": policy_name(CUT_A), "namespace": "feedhub-a",
                           "labels": {"app.kubernetes.io/managed-by": "drillkit", "drillkit.io/fault": tag_hash(CUT_A)},
                           "annotations": {"drillkit.io/tag": CUT_A}},
              "spec": {"podSelector": region, "policyTypes": ["Ingress", "Egress"],
                       "ingress": [{"from": [{"podSelector": region}]}], "egress": [{"to": [{"podSelector": region}]}]}}
    assert cluster.requests() == [
        ("GET", "/api/v1/namespaces/feedhub-a/pods", {"labelSelector": "drillkit.io/region=region-a"}, None),
        ("POST", "/apis/networking.k8s.io/v1/namespaces/feedhub-a/networkpolicies", {}, policy),
    ]
    assert state(cluster.handler, POLICIES, "feedhub-a", policy_name(CUT_A)) == policy
    assert policy_name(CUT_A).startswith("drillkit-cut-") and len(tag_hash(CUT_A)) == 16


def test_mend_deletes_the_tags_policies_in_every_bound_namespace_and_counts_them(cluster):
    control = cluster.control()
    control.cut(CUT_A, "region-a", ["region-b"])
    control.cut("drillkit:partition:region-b", "region-b", ["region-a"])
    cluster.forget_requests()
    assert control.mend(CUT_A) == 1
    listing = {"labelSelector": f"drillkit.io/fault={tag_hash(CUT_A)}"}
    assert cluster.requests() == [
        ("GET", "/apis/networking.k8s.io/v1/namespaces/feedhub-a/networkpolicies", listing, None),
        ("DELETE", f"/apis/networking.k8s.io/v1/namespaces/feedhub-a/networkpolicies/{policy_name(CUT_A)}", {}, None),
        ("GET", "/apis/networking.k8s.io/v1/namespaces/feedhub-b/networkpolicies", listing, None),
    ]
    assert names(cluster.handler, POLICIES, "feedhub-a") == []
    assert names(cluster.handler, POLICIES, "feedhub-b") == [policy_name("drillkit:partition:region-b")]
    assert control.mend(CUT_A) == 0


def test_a_replication_cut_lets_the_replica_send_anywhere_but_to_the_primarys_pod(cluster):
    cluster.control().cut_replication("drillkit:isolate:pg-b", "pg-b", "pg-a")
    created = [body for method, _, _, body in cluster.requests() if method == "POST"]
    assert [policy["spec"] for policy in created] == [{
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "patroni", "patroni/member": "pg-b"}},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.1.1.1/32"]}}]}]}]
    assert created[0]["metadata"]["namespace"] == "feedhub-b"


def test_a_primary_with_an_ipv6_address_is_cut_off_on_both_families(cluster):
    seed(cluster.handler, primary_ipv6="fd00::11")
    cluster.control().cut_replication("drillkit:isolate:pg-b", "pg-b", "pg-a")
    policy = state(cluster.handler, POLICIES, "feedhub-b", policy_name("drillkit:isolate:pg-b"))
    assert policy["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.1.1.1/32"]}},
                                                {"ipBlock": {"cidr": "::/0", "except": ["fd00::11/128"]}}]}]


def test_a_policy_left_by_an_earlier_fault_of_the_same_tag_is_replaced_not_taken_for_this_one(cluster):
    """An earlier isolation of pg-b was never healed; since then pg-a's pod came back with another IP. The
    new cut must exclude the primary's current address, not leave the stale policy in place."""
    cluster.control().cut_replication("drillkit:isolate:pg-b", "pg-b", "pg-a")
    cluster.handler.objects[PODS, "feedhub-a", "pg-a-0"].patch(
        {"status": {"podIP": "10.1.1.9", "podIPs": [{"ip": "10.1.1.9"}]}})

    cluster.control().cut_replication("drillkit:isolate:pg-b", "pg-b", "pg-a")

    policy = state(cluster.handler, POLICIES, "feedhub-b", policy_name("drillkit:isolate:pg-b"))
    assert policy is not None
    assert policy["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.1.1.9/32"]}}]}]
    assert names(cluster.handler, POLICIES, "feedhub-b") == [policy_name("drillkit:isolate:pg-b")]


# restore and recover: the cluster remembers, not the process

def test_restore_by_a_fresh_driver_after_a_killed_run_brings_the_replicas_back(cluster):
    killed = cluster.control()
    killed.kill("app-a", graceful=False)
    killed.pause("pg-b")
    killed.cut(CUT_A, "region-a", ["region-b"])
    del killed  # the run is gone: only the annotations and the policy are left

    cluster.forget_requests()
    fresh = cluster.control()
    fresh.restore()
    patched = [path for method, path, _, _ in cluster.requests() if method == "PATCH"]
    assert fresh.mend(CUT_A) == 1

    for resource, namespace, name, replicas in ((DEPLOYMENTS, "feedhub-a", "feedhub", 2),
                                                (STATEFULSETS, "feedhub-b", "pg-b", 1)):
        found = state(cluster.handler, resource, namespace, name)
        assert found["spec"]["replicas"] == replicas and not found["metadata"].get("annotations"), name
    assert patched == [f"{APPS}/feedhub-a/deployments/feedhub", f"{APPS}/feedhub-b/statefulsets/pg-b"], \
        "restore leaves alone what no fault scaled down"
    assert names(cluster.handler, POLICIES, "feedhub-a") == []


def test_drillkit_recover_heals_a_logged_kill_through_the_fault_log(cluster):
    app_actions.kill_app("region-a", configuration=cluster.configuration())
    assert _feedhub_a(cluster)["spec"]["replicas"] == 0
    faults = FaultLog(cluster.target.fault_log)
    assert [f.fault for f in faults.open_faults()] == ["kill_app"]

    result = _drillkit("recover", "--target", str(cluster.target_file), cwd=cluster.target_file.parent)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "kill_app (run" in result.stdout and "1 fault(s) healed, 0 left open" in result.stdout
    assert _feedhub_a(cluster)["spec"]["replicas"] == 2
    assert faults.open_faults() == []


def test_a_partition_and_its_heal_through_the_activities(cluster):
    region_actions.partition_region("region-a", configuration=cluster.configuration())
    assert names(cluster.handler, POLICIES, "feedhub-a") == [policy_name(CUT_A)]
    healed = region_actions.heal_partition("region-a", wait_s=5, configuration=cluster.configuration())
    assert healed["rules_removed"] == 1 and names(cluster.handler, POLICIES, "feedhub-a") == []


# errors, as the activities report them

def test_a_forbidden_request_names_the_verb_the_resource_the_namespace_and_the_role(cluster):
    cluster.handler[f"get {APPS}/feedhub-a/deployments/feedhub"] << kmock_error(403, "Forbidden")
    with pytest.raises(ActivityFailed, match=r"target 'feedhub-k8s-staging': the Kubernetes API refused scaling "
                                             r"deployment/feedhub in namespace feedhub-a to 0 \(403\): the drill's "
                                             r"service account may not get deployments in namespace feedhub-a "
                                             r"\(RBAC\): grant it in deploy/kubernetes/drill/rbac.yaml"):
        app_actions.kill_app("region-a", configuration=cluster.configuration())


def test_a_missing_workload_is_named(cluster):
    cluster.handler.objects[DEPLOYMENTS, "feedhub-a", "feedhub"].delete()
    with pytest.raises(ActivityFailed, match=r"\(404\): deployment/feedhub in namespace feedhub-a does not exist "
                                             r"\(the target binds it in driver.components\)"):
        app_actions.pause_app("region-a", configuration=cluster.configuration())


def test_a_selector_that_matches_no_pod_is_named_with_its_namespace(cluster):
    for name in ("feedhub-1", "feedhub-2"):
        cluster.handler.objects[PODS, "feedhub-b", name].delete()
    with pytest.raises(ActivityFailed, match=r"no pod matches the selector 'app.kubernetes.io/name=feedhub,"
                                             r"app.kubernetes.io/component=app' in namespace feedhub-b, killing app-b"):
        app_actions.kill_app("region-b", configuration=cluster.configuration())
    assert state(cluster.handler, DEPLOYMENTS, "feedhub-b", "feedhub")["spec"]["replicas"] == 2, "nothing scaled"


def test_a_request_past_the_timeout_names_the_limit(cluster):
    cluster.handler[f"get {APPS}/feedhub-a/deployments/feedhub"] << (lambda: asyncio.sleep(3), {})
    with pytest.raises(ActivityFailed, match=r"the Kubernetes API at http://127.0.0.1:\d+ did not answer within "
                                             r"0.5 s \(driver.request_timeout_s\), scaling deployment/feedhub"):
        app_actions.kill_app("region-a", configuration=cluster.configuration())
    assert len([r for r in cluster.handler.seen if r.method == "GET" and r.name == "feedhub"
                and r.namespace == "feedhub-a"]) == 2, "asked once by the fault, once by its heal: no retries"


def test_a_kubeconfig_without_the_context_is_named(cluster, tmp_path):
    target = cluster.target.model_copy(update={"driver": cluster.target.driver.model_copy(
        update={"context": "staging"})})
    with pytest.raises(SandboxError, match=r"no Kubernetes client configuration \(context staging of .*kubeconfig\)"):
        KubernetesControl(target)


# preflight

def test_problems_name_every_bound_workload_that_does_not_exist(cluster):
    assert cluster.control().problems() == []
    cluster.handler.objects[STATEFULSETS, "feedhub-b", "pg-b"].delete()
    assert cluster.control().problems() == [
        "target 'feedhub-k8s-staging': the Kubernetes API refused checking statefulset/pg-b in namespace feedhub-b "
        "(404): statefulset/pg-b in namespace feedhub-b does not exist (the target binds it in driver.components)"]


def test_the_preflight_asks_the_api_through_the_context_and_every_workload(cluster):
    from drillkit import preflight

    checks = {c.name: c for c in preflight.live_checks(cluster.target).checks}
    assert checks["kube-api"].ok and "v1.26.4" in checks["kube-api"].detail
    assert "context emulator of" in checks["kube-api"].detail
    assert checks["workloads"].ok
    cluster.handler.objects[DEPLOYMENTS, "feedhub-b", "feedhub"].delete()
    checks = {c.name: c for c in preflight.live_checks(cluster.target).checks}
    assert not checks["workloads"].ok and "deployment/feedhub in namespace feedhub-b does not exist" in \
        checks["workloads"].detail


def test_the_preflight_names_an_api_that_does_not_answer(cluster):
    from drillkit import preflight

    target = cluster.target.model_copy(update={"driver": cluster.target.driver.model_copy(update={"context": None})})
    checks = {c.name: c for c in preflight.live_checks(target).checks}
    assert not checks["kube-api"].ok and "http://127.0.0.1:9 failed asking the API server's version" in \
        checks["kube-api"].detail
    assert "workloads" not in checks


def test_the_superuser_dsn_points_at_the_member_patroni_lists(cluster, monkeypatch):
    monkeypatch.setenv("FEEDHUB_PG_SUPERUSER", "user=postgres password=secret dbname=postgres")
    dsn = cluster.control().superuser_dsn("pg-b")
    assert "host=10.2.1.1" in dsn and "port=5432" in dsn and "connect_timeout=3" in dsn


def kmock_error(status: int, reason: str) -> Exception:
    import kmock

    return kmock.KubernetesError(status=status, reason=reason, message=f"{reason.lower()} by the emulator")

