"""A Kubernetes API emulator (kmock) speaking real HTTP on 127.0.0.1, served from a thread of its own so
that drillkit's synchronous client can call it from the test's thread; and a kubeconfig pointing at it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kmock
import yaml

JOBS = kmock.resource("batch", "v1", "jobs")
PODS = kmock.resource("", "v1", "pods")
CONFIGMAPS = kmock.resource("", "v1", "configmaps")


class Emulator:
    """The running emulator: its URL, its stored objects, the requests it answered."""

    def __init__(self, handler: Any, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.handler, self.url, self.loop = handler, url, loop

    @property
    def objects(self) -> Any:
        return self.handler.objects

    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, path, query) of every request, discovery and all, in order."""
        return [(str(r.method.value).upper(), r.url.path, dict(r.params)) for r in list(self.handler)]

    def bodies(self, method: str, path: str) -> list[Any]:
        return [r.data for r in list(self.handler) if str(r.method.value).upper() == method and r.url.path == path]

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "test"}}],
            "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester"}}],
        }))
        return path


@contextmanager
def emulator() -> Iterator[Emulator]:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        async with kmock.KubernetesEmulator() as handler, kmock.Server(handler) as server:
            box["stop"] = asyncio.Event()
            box["emulator"] = Emulator(handler, str(server.url).rstrip("/"), loop)
            started.set()
            await box["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10), "the Kubernetes emulator did not start"
    try:
        yield box["emulator"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)
        loop.close()
