"""A Kubernetes API emulator on 127.0.0.1 (kmock, real HTTP) for the kubernetes driver's tests, the example
target pointed at it through a kubeconfig, and a stub of the Patroni and app endpoints that restore asks.

kmock's emulator keeps objects and serves list/get/create/patch/delete; three things a real API server does
are added here: a list honours its labelSelector, /version/ answers as /version does, and (a stand-in for
the controllers) a workload's ready replicas follow its spec.replicas once patched, unless `controller` is
off."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import kmock
import yaml
from kmock._internal import rendering

from drillkit.faults.drivers.kubernetes import KubernetesControl
from drillkit.faults.environment import TARGET_KEY
from drillkit.model.target import Target, load_target

EXAMPLE = Path(__file__).parents[2] / "drills" / "targets" / "kubernetes.example.yaml"
DEPLOYMENTS = kmock.resource("apps", "v1", "deployments")
STATEFULSETS = kmock.resource("apps", "v1", "statefulsets")
PODS = kmock.resource("", "v1", "pods")
JOBS = kmock.resource("batch", "v1", "jobs")
CONFIGMAPS = kmock.resource("", "v1", "configmaps")
POLICIES = kmock.resource("networking.k8s.io", "v1", "networkpolicies")
WORKLOADS = (DEPLOYMENTS, STATEFULSETS)


@dataclass(frozen=True)
class Seen:
    """One request as it arrived: the method, the path, the query and the JSON body."""

    method: str
    path: str
    params: dict[str, str]
    body: Any
    resource: Any
    subresource: str | None
    name: str | None
    namespace: str | None
    authorization: str | None


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    seen: list[Seen] = attrs.field(factory=list)
    controller: bool = True

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.fallback["get /version/"] << self._serve_server_version  # the client's path; a server takes both

    async def _handle(self, request: rendering.Request) -> Any:
        self.seen.append(Seen(request.method.value.upper(), request.url.path, dict(request.params),
                              json.loads(request.body) if request.body else None, request.resource,
                              request.subresource, request.name, request.namespace,
                              request.headers.get("Authorization")))
        response = await super()._handle(request)
        if self.controller and request.resource in WORKLOADS and request.method.value.upper() == "PATCH":
            async with self._lock:
                found = self.objects[request.resource, request.namespace, request.name]
                replicas = found["spec"]["replicas"]
                found.patch({"status": {"replicas": replicas, "readyReplicas": replicas}})
        return response

    async def _serve_list(self, request: rendering.Request) -> Any:
        listing = await super()._serve_list(request)
        selector = request.params.get("labelSelector")
        if selector:
            listing["items"] = [item for item in listing["items"] if matches(selector, item)]
        return listing


def matches(selector: str, item: dict[str, Any]) -> bool:
    labels = item.get("metadata", {}).get("labels") or {}
    for term in selector.split(","):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        else:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
    return True


@dataclass
class Served:
    """A running emulator: its handler (stored objects, requests, routes), its URL and its event loop."""

    handler: Emulator
    url: str
    loop: asyncio.AbstractEventLoop

    @property
    def objects(self) -> Any:
        return self.handler.objects

    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, path, query) of every request, discovery and all, in order."""
        return [(r.method, r.path, r.params) for r in self.handler.seen]

    def bodies(self, method: str, path: str) -> list[Any]:
        return [r.body for r in self.handler.seen if r.method == method and r.path == path]

    def kubeconfig(self, directory: Path) -> Path:
        """A kubeconfig whose current context is the emulator's."""
        return kubeconfig(directory / "kubeconfig", self.url, current="emulator")


@contextmanager
def serving() -> Iterator[Served]:
    """The emulator served on 127.0.0.1 from a thread of its own (drillkit's client is synchronous)."""
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    state: dict[str, Any] = {}

    async def serve() -> None:
        state["stop"] = asyncio.Event()
        async with Emulator() as handler, kmock.Server(handler) as server:
            state["served"] = Served(handler, str(server.url).rstrip("/"), loop)
            ready.set()
            await state["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the emulator did not start"
    try:
        yield state["served"]
    finally:
        loop.call_soon_threadsafe(state["stop"].set)
        thread.join(10)
        loop.close()


@contextmanager
def running_emulator() -> Iterator[tuple[Emulator, str]]:
    with serving() as served:
        yield served.handler, served.url


# the example target's objects

def workload(kind: str, namespace: str, name: str, replicas: int, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "main"}]}},
                     **({"serviceName": name} if kind == "StatefulSet" else {})},
            "status": {"replicas": replicas, "readyReplicas": replicas}}


def pod(namespace: str, name: str, labels: dict[str, str], ip: str, ipv6: str | None = None) -> dict[str, Any]:
    ips = [{"ip": ip}] + ([{"ip": ipv6}] if ipv6 else [])
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "uid": f"uid-{name}"},
            "spec": {"containers": [{"name": "main"}]}, "status": {"podIP": ip, "podIPs": ips}}


def seed(handler: Emulator, primary_ipv6: str | None = None) -> None:
    """Per region: the app's Deployment (2 replicas, 2 pods) and the member's StatefulSet (1 replica, 1 pod)."""
    for x, number in (("a", 1), ("b", 2)):
        namespace, region = f"feedhub-{x}", {"drillkit.io/region": f"region-{x}"}
        app = {"app.kubernetes.io/name": "feedhub", "app.kubernetes.io/component": "app"}
        member = {"app.kubernetes.io/name": "patroni", "patroni/member": f"pg-{x}"}
        handler.objects[DEPLOYMENTS, namespace, "feedhub"] = workload("Deployment", namespace, "feedhub", 2, app)
        handler.objects[STATEFULSETS, namespace, f"pg-{x}"] = workload("StatefulSet", namespace, f"pg-{x}", 1,
                                                                        member)
        for i in (1, 2):
            handler.objects[PODS, namespace, f"feedhub-{i}"] = pod(namespace, f"feedhub-{i}", {**app, **region},
                                                                   f"10.{number}.0.{i}")
        handler.objects[PODS, namespace, f"pg-{x}-0"] = pod(namespace, f"pg-{x}-0", {**member, **region},
                                                            f"10.{number}.1.1", primary_ipv6 if x == "a" else None)


def state(handler: Emulator, resource: Any, namespace: str, name: str) -> dict[str, Any] | None:
    """The object as the emulator now holds it; None when deleted or never there."""
    key = (resource, namespace, name)
    if key not in handler.objects or handler.objects[key].deleted:
        return None
    return copy.deepcopy(dict(json.loads(json.dumps(handler.objects[key].raw))))


def names(handler: Emulator, resource: Any, namespace: str) -> list[str]:
    return sorted(name for (res, ns, name), obj in handler.objects.items()
                  if res == resource and ns == namespace and not obj.deleted)


# Patroni and the apps, as restore and the preflight ask them

class _Stub(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.endswith("/cluster"):
            body = json.dumps({"members": [
                {"name": "pg-a", "role": "leader", "state": "running", "host": "10.1.1.1", "port": 5432},
                {"name": "pg-b", "role": "replica", "state": "streaming", "host": "10.2.1.1", "port": 5432}]})
        elif self.path.endswith(("/healthz", "/patroni")):
            body = "{}"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def healthy_platform() -> Iterator[str]:
    """A stub that answers as a healthy platform: pg-a leads, pg-b streams, every app answers."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def kubeconfig(path: Path, url: str, current: str = "elsewhere") -> Path:
    """Context `emulator` reaches the emulator; context `elsewhere` (the current one unless CURRENT says
    otherwise) reaches nothing."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "emulator", "cluster": {"server": url}},
                     {"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "drill", "user": {"token": "drill-token"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "drill"}},
                     {"name": "elsewhere", "context": {"cluster": "nowhere", "user": "drill"}}]}))
    return path


def example_target(tmp_path: Path, api_url: str, platform_url: str, **driver: Any) -> Path:
    """drills/targets/kubernetes.example.yaml with its context the emulator's and its URLs the stub's."""
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["driver"] |= {"kubeconfig": str(kubeconfig(tmp_path / "kubeconfig", api_url)), "context": "emulator",
                       "request_timeout_s": 0.5, "settle_timeout_s": 1, **driver}
    spec["endpoint"] = f"{platform_url}/lb"
    for region in spec["regions"].values():
        region["app"]["url"] = f"{platform_url}/{region['app']['component']}"
        region["database"]["patroni_api"] = f"{platform_url}/{region['database']['component']}"
    spec["state_dir"] = str(tmp_path / "state")
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(spec))
    Target.model_validate(spec)
    return path


@dataclass
class Cluster:
    """The emulator and the example target pointed at it, as the driver's tests see them."""

    handler: Emulator
    target_file: Path

    @property
    def target(self) -> Target:
        return load_target(self.target_file)

    def control(self) -> KubernetesControl:
        """A driver as driver_for builds it: its client from the target's kubeconfig and context."""
        return KubernetesControl(self.target)

    def requests(self) -> list[tuple[str, str, dict[str, str], object]]:
        return [(r.method, r.path, r.params, r.body) for r in self.handler.seen]

    def forget_requests(self) -> None:
        self.handler.seen.clear()

    def configuration(self) -> dict[str, str]:
        return {TARGET_KEY: str(self.target_file)}
