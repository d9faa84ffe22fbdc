"""Start headless Locust as subprocesses: one local process, or a master and N workers."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
from pathlib import Path

from drillkit import processes
from drillkit.errors import InvalidInput
from drillkit.loadtest.records import PROGRESS_ENV, RESULTS_ENV, STAGES_ENV, THRESHOLD_ENV
from drillkit.model.objectives import Objectives

RESULTS_FILE = "locust-results.json"
PROGRESS_FILE = "progress.json"


def _package_file(name: str) -> Path:
    spec = importlib.util.find_spec("drillkit.loadtest")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / name


PLUGIN_FILES = ("locust_shape.py", "locust_plugin.py")


def locustfiles(locustfile: Path, plugin_dir: Path | None = None) -> str:
    """The user's locustfile, drillkit's staged shape and its latency plugin, as Locust's -f list. The
    shape and the plugin come from PLUGIN_DIR when given (a pod mounts them), else from this drillkit."""
    if not locustfile.exists():
        raise InvalidInput(f"{locustfile}: no such locustfile")
    extras = [plugin_dir / name if plugin_dir else _package_file(name) for name in PLUGIN_FILES]
    missing = [str(path) for path in extras if not path.exists()]
    if missing:
        raise InvalidInput(f"--plugin-dir: {', '.join(missing)}: no such file")
    return ",".join(str(path) for path in [locustfile.absolute(), *extras])


def launch(
    *, host: str, stages: list[dict], locustfile: Path, out_dir: Path, name: str = "locust",
    role: list[str] | None = None, latency_threshold_ms: float | None = None, plugin_dir: Path | None = None,
) -> processes.Launch:
    """A headless Locust process following STAGES; ROLE adds --master/--worker arguments. A request
    is fast within LATENCY_THRESHOLD_MS (default: the objectives' default threshold)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "locust", "-f", locustfiles(locustfile, plugin_dir), "--headless", "--host", host,
            "--only-summary", "--exit-code-on-error", "0", *(role or [])]
    if not role or "--worker" not in role:
        argv += ["--csv", str(out_dir / name)]
    env = {
        **os.environ,
        STAGES_ENV: json.dumps(stages),
        RESULTS_ENV: str(out_dir / RESULTS_FILE),
        PROGRESS_ENV: str(out_dir / PROGRESS_FILE),
        THRESHOLD_ENV: str(latency_threshold_ms or Objectives().latency_threshold_ms),
    }
    return processes.Launch(name=name, argv=argv, env=env, cwd=Path.cwd(), log=out_dir / f"{name}.log")


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]
