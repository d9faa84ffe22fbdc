"""Render a kustomization directory into Kubernetes objects (plain dicts), without kubectl or kustomize.

Only what drillkit's own kustomizations use, with kustomize's meaning:
    resources            YAML files (one or more documents) and sub-directories holding a kustomization
    namespace            set on every namespaced object (kustomize overrides any namespace a file gives)
    commonLabels         added to metadata.labels, Service and workload selectors, and pod templates
    labels               [{pairs, includeSelectors, includeTemplates}]: like commonLabels, selectors and
                         templates only when asked
    configMapGenerator   [{name, files, literals}]; files are `KEY=PATH` or `PATH` relative to the kustomization
    generatorOptions     only {disableNameSuffixHash: true}: drillkit renders no hash suffix, so every
                         kustomization that generates must say so (then `kubectl apply -k` makes the same names)
    images               [{name, newName, newTag}] rewrites matching container and initContainer images
Anything else is an error naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from drillkit.errors import InvalidInput

__all__ = ["render"]

KUSTOMIZATION = "kustomization.yaml"
KNOWN_KEYS = {"apiVersion", "kind", "resources", "namespace", "commonLabels", "labels", "configMapGenerator",
              "generatorOptions", "images"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
                  "CustomResourceDefinition", "PriorityClass"}
ENTRY_KEYS = {"configMapGenerator": {"name", "files", "literals"}, "images": {"name", "newName", "newTag"},
              "labels": {"pairs", "includeSelectors", "includeTemplates"}}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

Obj = dict[str, Any]


def render(directory: Path) -> list[Obj]:
    """Every object DIRECTORY's kustomization.yaml produces, in the order of its resources, then its
    generated ConfigMaps."""
    file = directory / KUSTOMIZATION
    spec = _read_kustomization(file)
    objects = [obj for entry in spec.get("resources", []) for obj in _resource(directory, entry, file)]
    objects += _generated(directory, spec, file)
    for obj in objects:
        _transform(obj, spec)
    return objects


def _read_kustomization(file: Path) -> Obj:
    try:
        spec = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise InvalidInput(f"{file}: cannot read it ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{file}: not YAML ({exc})") from exc
    if not isinstance(spec, dict):
        raise InvalidInput(f"{file}: a kustomization is a mapping")
    unknown = sorted(set(spec) - KNOWN_KEYS)
    if unknown:
        raise InvalidInput(f"{file}: {unknown[0]}: drillkit's renderer does not support this key "
                           f"(it supports {', '.join(sorted(KNOWN_KEYS))})")
    for field, allowed in ENTRY_KEYS.items():
        for entry in spec.get(field, []):
            extra = sorted(set(entry) - allowed)
            if extra:
                raise InvalidInput(f"{file}: {field}: {extra[0]}: drillkit's renderer does not support this key")
    return spec


def _resource(directory: Path, entry: str, file: Path) -> list[Obj]:
    path = directory / entry
    if path.is_dir():
        return render(path)
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except OSError as exc:
        raise InvalidInput(f"{file}: resources: {entry}: cannot read it ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not YAML ({exc})") from exc
    objects = [doc for doc in documents if doc is not None]
    for obj in objects:
        if not isinstance(obj, dict) or "kind" not in obj or "name" not in obj.get("metadata", {}):
            raise InvalidInput(f"{path}: every document is a Kubernetes object with kind and metadata.name")
    return objects


# -- the ConfigMap generator ---------------------------------------------------------------------


def _generated(directory: Path, spec: Obj, file: Path) -> list[Obj]:
    generators = spec.get("configMapGenerator", [])
    if generators and spec.get("generatorOptions") != {"disableNameSuffixHash": True}:
        raise InvalidInput(f"{file}: generatorOptions: set disableNameSuffixHash: true; drillkit renders "
                           "generated names without kustomize's hash suffix")
    return [_configmap(directory, generator, file) for generator in generators]


def _configmap(directory: Path, generator: Obj, file: Path) -> Obj:
    data: dict[str, str] = {}
    for item in generator.get("files", []):
        key, _, relative = item.rpartition("=")
        path = directory / relative
        try:
            data[key or path.name] = path.read_text()
        except OSError as exc:
            raise InvalidInput(f"{file}: configMapGenerator {generator['name']}: files: {item}: cannot read it "
                               f"({exc.strerror or exc})") from exc
    for item in generator.get("literals", []):
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"{file}: configMapGenerator {generator['name']}: literals: {item!r} is not KEY=VALUE")
        data[key] = value
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}


# -- transformers --------------------------------------------------------------------------------


def _transform(obj: Obj, spec: Obj) -> None:
    if "namespace" in spec and obj["kind"] not in CLUSTER_SCOPED:
        obj["metadata"]["namespace"] = spec["namespace"]
    if "commonLabels" in spec:
        _label(obj, spec["commonLabels"], selectors=True, templates=True)
    for entry in spec.get("labels", []):
        selectors = bool(entry.get("includeSelectors", False))
        _label(obj, entry["pairs"], selectors=selectors, templates=selectors or entry.get("includeTemplates", False))
    for image in spec.get("images", []):
        _set_image(obj, image)


def _label(obj: Obj, pairs: dict[str, str], *, selectors: bool, templates: bool) -> None:
    pairs = {key: str(value) for key, value in pairs.items()}
    obj["metadata"].setdefault("labels", {}).update(pairs)
    spec = obj.get("spec", {})
    if selectors and obj["kind"] == "Service":
        spec.setdefault("selector", {}).update(pairs)
    if selectors and obj["kind"] in WORKLOADS - {"Job"}:  # a Job's selector is the API server's to make
        spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(pairs)
    for template in _pod_templates(obj) if templates else []:
        template.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def _set_image(obj: Obj, image: Obj) -> None:
    for template in _pod_templates(obj):
        pod = template.get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, tag = _split_image(container.get("image", ""))
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag or 'latest')}"


def _split_image(image: str) -> tuple[str, str | None]:
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:  # no tag, or the colon was a registry's port
        return image, None
    return name, tag


def _pod_templates(obj: Obj) -> list[Obj]:
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        return [spec.get("jobTemplate", {}).get("spec", {}).get("template", {})]
    if obj["kind"] in WORKLOADS:
        return [spec.setdefault("template", {})]
    return []

