"""Write configmap.yaml from loadtests/locustfile.py (run from the repository root; `make k8s-configmap`)."""

from pathlib import Path

import yaml

LOCUSTFILE = Path("loadtests/locustfile.py")
TARGET = Path("deploy/kubernetes/locust/configmap.yaml")



def _literal(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    """Multi-line strings as literal blocks, so the locustfile reads as code in the manifest."""
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


yaml.SafeDumper.add_representer(str, _literal)

configmap = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "locust-scripts",
                 "labels": {"app.kubernetes.io/name": "locust", "app.kubernetes.io/part-of": "drillkit"}},
    "data": {"locustfile.py": LOCUSTFILE.read_text()},
}
header = "# Generated from loadtests/locustfile.py by render_configmap.py (make k8s-configmap): do not edit.\n"
TARGET.write_text(header + yaml.safe_dump(configmap, sort_keys=False, width=120))
