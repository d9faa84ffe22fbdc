"""The drill's Role grants exactly what the kubernetes driver asks: every request of every fault, heal,
restore and preflight check, made against the emulator, is allowed by the Role of its namespace, and every
rule the Role grants is used by some request."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from kubernetes.client import ApiClient

from drillkit.faults.drivers.kubernetes import KubernetesControl
from drillkit.model.target import load_target

from .kube_emulator import EXAMPLE, example_target, healthy_platform, running_emulator, seed

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "drill" / "rbac.yaml"
Ask = tuple[str, str, str, str]  # (apiGroup, resource[/subresource], verb, namespace)
PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/namespaces/(?P<namespace>[^/]+)/(?P<resource>[^/]+)"
                  r"(?:/(?P<name>[^/]+)(?:/(?P<subresource>[^/]+))?)?$")
OPEN_TO_ALL = {"/version/", "/version"}  # non-resource URLs every authenticated account may GET


def ask(method: str, path: str, params: dict[str, str]) -> Ask:
    """The RBAC request an HTTP request is: an item's GET is get, a collection's list (or watch), POST
    create, PATCH patch, PUT update, an item's DELETE delete, a collection's deletecollection."""
    found = PATH.match(path)
    assert found, f"{method} {path} is no namespaced resource request"
    item = found["name"] is not None
    verb = {"GET": "get" if item else "watch" if params.get("watch") in ("true", "1") else "list",
            "POST": "create", "PATCH": "patch", "PUT": "update",
            "DELETE": "delete" if item else "deletecollection"}[method]
    resource = found["resource"] + (f"/{found['subresource']}" if found["subresource"] else "")
    return (found["group"] or "", resource, verb, found["namespace"])


def test_the_verbs_follow_the_method_and_whether_an_item_is_named():
    assert ask("GET", "/apis/apps/v1/namespaces/n/deployments/x", {}) == ("apps", "deployments", "get", "n")
    assert ask("GET", "/api/v1/namespaces/n/pods", {}) == ("", "pods", "list", "n")
    assert ask("DELETE", "/api/v1/namespaces/n/pods", {}) == ("", "pods", "deletecollection", "n")
    assert ask("PATCH", "/apis/apps/v1/namespaces/n/deployments/x/scale", {}) == (
        "apps", "deployments/scale", "patch", "n")
    assert ask("PUT", "/apis/apps/v1/namespaces/n/statefulsets/x", {})[2] == "update"


@pytest.fixture(scope="module")
def asked(tmp_path_factory) -> set[Ask]:
    """Every request of a tour of the driver: preflight, every fault in both regions, every heal, restore."""
    with running_emulator() as (handler, url), healthy_platform() as platform:
        seed(handler)
        control = KubernetesControl(load_target(example_target(tmp_path_factory.mktemp("rbac"), url, platform)))
        control.api_version()
        assert control.problems() == []
        for region, other in (("region-a", "region-b"), ("region-b", "region-a")):
            control.cut(f"drillkit:partition:{region}", region, [other])
            assert control.mend(f"drillkit:partition:{region}") == 1
        control.cut_replication("drillkit:isolate:pg-b", "pg-b", "pg-a")
        assert control.mend("drillkit:isolate:pg-b") == 1
        for component in ("app-a", "app-b"):  # the emulator has no controller to recreate pods: kills last
            control.kill(component, graceful=False)
        control.pause("pg-a")
        control.resume("pg-a")
        control.kill("pg-b", graceful=True)
        control.restore()
        seed(handler)
        control.kill_postgres("pg-a")
        seen = list(handler.seen)
    assert seen, "the tour asked nothing"
    return {ask(r.method, r.path, r.params) for r in seen if r.path not in OPEN_TO_ALL}


def documents() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(RBAC.read_text()) if doc]


def granted() -> set[Ask]:
    return {(group, resource, verb, doc["metadata"]["namespace"])
            for doc in documents() if doc["kind"] == "Role"
            for rule in doc["rules"] for group in rule["apiGroups"] for resource in rule["resources"]
            for verb in rule["verbs"]}


def test_every_request_the_driver_makes_is_allowed_by_the_role_of_its_namespace(asked):
    assert asked - granted() == set()


def test_every_rule_the_role_grants_is_used_by_some_request(asked):
    assert granted() - asked == set()


def test_there_is_a_role_in_each_namespace_the_example_target_binds():
    driver = yaml.safe_load(EXAMPLE.read_text())["driver"]
    bound = {spec["namespace"] for kind in ("components", "regions") for spec in driver[kind].values()}
    assert {doc["metadata"]["namespace"] for doc in documents() if doc["kind"] == "Role"} == bound == {
        "feedhub-a", "feedhub-b"}


def test_each_role_is_bound_to_the_drills_service_account_and_nothing_else():
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in documents() if d["kind"] == "Role"}
    bindings = [d for d in documents() if d["kind"] == "RoleBinding"]
    assert {(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in bindings} == roles
    assert all(b["roleRef"]["kind"] == "Role" for b in bindings)
    assert all(b["subjects"] == [{"kind": "ServiceAccount", "name": "drillkit", "namespace": "drillkit"}]
               for b in bindings)


@pytest.mark.parametrize("document", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['namespace']}")
def test_each_document_deserializes_into_its_kubernetes_model(document):
    kind = {"Role": "V1Role", "RoleBinding": "V1RoleBinding"}[document["kind"]]
    model = ApiClient().deserialize(json.dumps(document), kind, "application/json")
    assert type(model).__name__ == kind and model.metadata.namespace == document["metadata"]["namespace"]
