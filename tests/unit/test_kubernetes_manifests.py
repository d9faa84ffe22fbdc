"""The Locust manifests load as valid Kubernetes objects, and the ConfigMap carries today's locustfile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubernetes.client import ApiClient

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes" / "locust"
KINDS = {"Deployment": "V1Deployment", "Service": "V1Service", "ConfigMap": "V1ConfigMap"}


def documents() -> list[dict]:
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    return [doc for name in listed for doc in yaml.safe_load_all((MANIFESTS / name).read_text())]


@pytest.mark.parametrize("document", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_each_manifest_deserializes_into_its_kubernetes_model(document):
    model = ApiClient().deserialize(json.dumps(document), KINDS[document["kind"]], "application/json")
    assert model.metadata.name == document["metadata"]["name"]
    assert type(model).__name__ == KINDS[document["kind"]]


def test_there_is_a_master_deployment_and_service_a_worker_deployment_and_the_scripts():
    names = {(d["kind"], d["metadata"]["name"]) for d in documents()}
    assert names == {("Deployment", "locust-master"), ("Service", "locust-master"),
                     ("Deployment", "locust-worker"), ("ConfigMap", "locust-scripts")}


def test_workers_find_the_master_through_its_service():
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in documents()}
    worker = by_name[("Deployment", "locust-worker")]["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"][worker["args"].index("--master-host") + 1] == "locust-master"
    ports = {p["port"] for p in by_name[("Service", "locust-master")]["spec"]["ports"]}
    assert 5557 in ports


def test_the_configmap_carries_the_current_locustfile():
    configmap = yaml.safe_load((MANIFESTS / "configmap.yaml").read_text())
    assert configmap["data"]["locustfile.py"] == (ROOT / "loadtests" / "locustfile.py").read_text(), \
        "run `make k8s-configmap` after changing loadtests/locustfile.py"
