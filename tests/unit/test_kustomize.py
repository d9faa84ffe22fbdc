"""drillkit's kustomization renderer: resources (files and folders), namespace, labels, the ConfigMap
generator and images, with kustomize's meaning; any other key is an error naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.errors import InvalidInput
from drillkit.kustomize import render

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: elsewhere}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      initContainers: [{name: init, image: "registry.local:5000/drillkit"}]
      containers: [{name: app, image: "drillkit:old"}, {name: side, image: "busybox:1.36"}]
"""
SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: app}\nspec: {selector: {app: app}}\n"
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n"


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


def by_kind(objects: list[dict]) -> dict[str, dict]:
    return {obj["kind"]: obj for obj in objects}


def test_resources_come_from_files_with_several_documents_and_from_sub_kustomizations(tmp_path):
    write(tmp_path, {"kustomization.yaml": "resources: [both.yaml, sub]\n",
                     "both.yaml": f"{DEPLOYMENT}---\n{SERVICE}",
                     "sub/kustomization.yaml": "resources: [ns.yaml]\n", "sub/ns.yaml": NAMESPACE})
    assert [obj["kind"] for obj in render(tmp_path)] == ["Deployment", "Service", "Namespace"]


def test_the_namespace_overrides_every_namespaced_object_and_leaves_cluster_scoped_ones(tmp_path):
    write(tmp_path, {"kustomization.yaml": "namespace: team\nresources: [d.yaml, ns.yaml]\n",
                     "d.yaml": DEPLOYMENT, "ns.yaml": NAMESPACE})
    objects = by_kind(render(tmp_path))
    assert objects["Deployment"]["metadata"]["namespace"] == "team"
    assert "namespace" not in objects["Namespace"]["metadata"]


def test_common_labels_reach_metadata_selectors_and_pod_templates(tmp_path):
    write(tmp_path, {"kustomization.yaml": "commonLabels: {tier: load}\nresources: [d.yaml, s.yaml]\n",
                     "d.yaml": DEPLOYMENT, "s.yaml": SERVICE})
    objects = by_kind(render(tmp_path))
    deployment, service = objects["Deployment"], objects["Service"]
    assert deployment["metadata"]["labels"] == {"tier": "load"}
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "app", "tier": "load"}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "app", "tier": "load"}
    assert service["spec"]["selector"] == {"app": "app", "tier": "load"}


def test_labels_without_include_selectors_touch_only_metadata(tmp_path):
    write(tmp_path, {"kustomization.yaml": "labels: [{pairs: {tier: load}}]\nresources: [d.yaml, s.yaml]\n",
                     "d.yaml": DEPLOYMENT, "s.yaml": SERVICE})
    objects = by_kind(render(tmp_path))
    assert objects["Deployment"]["metadata"]["labels"] == {"tier": "load"}
    assert objects["Deployment"]["spec"]["selector"]["matchLabels"] == {"app": "app"}
    assert objects["Deployment"]["spec"]["template"]["metadata"]["labels"] == {"app": "app"}
    assert objects["Service"]["spec"]["selector"] == {"app": "app"}


def test_the_configmap_generator_reads_files_and_literals_without_a_hash_suffix(tmp_path):
    write(tmp_path, {"kustomization.yaml": "namespace: team\nconfigMapGenerator:\n  - name: scripts\n"
                     "    files: [plain.txt, renamed.py=../outside/source.py]\n    literals: [mode=fast, empty=]\n"
                     "generatorOptions: {disableNameSuffixHash: true}\n",
                     "plain.txt": "plain\n", "../outside/source.py": "print('hi')\n"})
    (configmap,) = render(tmp_path)
    assert configmap["metadata"] == {"name": "scripts", "namespace": "team"}
    assert configmap["data"] == {"plain.txt": "plain\n", "renamed.py": "print('hi')\n", "mode": "fast", "empty": ""}


def test_a_generator_without_disabling_the_hash_suffix_is_refused_since_kustomize_would_rename_it(tmp_path):
    write(tmp_path, {"kustomization.yaml": "configMapGenerator: [{name: s, literals: [a=b]}]\n"})
    with pytest.raises(InvalidInput, match=r"kustomization.yaml: generatorOptions: .*disableNameSuffixHash"):
        render(tmp_path)


def test_images_rewrite_matching_containers_and_init_containers_only(tmp_path):
    write(tmp_path, {"kustomization.yaml": "resources: [d.yaml]\nimages:\n  - {name: drillkit, newTag: abc123}\n"
                     "  - {name: registry.local:5000/drillkit, newName: drillkit, newTag: def456}\n",
                     "d.yaml": DEPLOYMENT})
    pod = render(tmp_path)[0]["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["containers"]] == ["drillkit:abc123", "busybox:1.36"]
    assert pod["initContainers"][0]["image"] == "drillkit:def456"


@pytest.mark.parametrize("text, key", [
    ("resources: []\npatches: []\n", "patches"),
    ("configMapGenerator: [{name: s, envs: [x.env]}]\ngeneratorOptions: {disableNameSuffixHash: true}\n", "envs"),
    ("resources: []\nimages: [{name: a, digest: 'sha256:0'}]\n", "digest"),
])
def test_an_unknown_key_is_an_error_naming_the_file_and_the_key(tmp_path, text, key):
    write(tmp_path, {"kustomization.yaml": text})
    with pytest.raises(InvalidInput) as error:
        render(tmp_path)
    assert str(tmp_path / "kustomization.yaml") in str(error.value) and f"{key}:" in str(error.value)


def test_a_missing_resource_file_is_an_error_naming_the_kustomization_and_the_entry(tmp_path):
    write(tmp_path, {"kustomization.yaml": "resources: [gone.yaml]\n"})
    with pytest.raises(InvalidInput, match=r"kustomization.yaml: resources: gone.yaml"):
        render(tmp_path)


def test_the_cli_prints_a_rendering_for_kubectl_and_exits_2_on_an_unknown_key(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    write(tmp_path, {"kustomization.yaml": "namespace: team\nresources: [s.yaml]\n", "s.yaml": SERVICE})
    env = {"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"}
    printed = subprocess.run([sys.executable, "-m", "drillkit", "kustomize", str(tmp_path)], capture_output=True,
                             text=True, env=env, check=False, timeout=60)
    assert printed.returncode == 0 and "namespace: team" in printed.stdout
    write(tmp_path, {"kustomization.yaml": "replicas: []\n"})
    refused = subprocess.run([sys.executable, "-m", "drillkit", "kustomize", str(tmp_path)], capture_output=True,
                             text=True, env=env, check=False, timeout=60)
    assert refused.returncode == 2 and "replicas" in refused.stderr
