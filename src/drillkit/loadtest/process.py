"""Start and stop headless Locust as a subprocess of its own session."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from drillkit.errors import InvalidInput
from drillkit.sandbox import processes

DEFAULT_LOCUSTFILE = Path("loadtests/locustfile.py")
LOAD_PID_FILE = Path("load") / "locust.pid"  # relative to the target's state dir


def shape_file() -> Path:
    spec = importlib.util.find_spec("drillkit.loadtest")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "locust_shape.py"


def launch(
    *, host: str, stages: list[dict], locustfile: Path, out_dir: Path, name: str = "locust"
) -> processes.Launch:
    """A headless Locust run following STAGES, writing its CSV stats into OUT_DIR."""
    if not locustfile.exists():
        raise InvalidInput(f"{locustfile}: no such locustfile")
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "locust", "-f", f"{locustfile.absolute()},{shape_file()}",
        "--headless", "--host", host, "--csv", str(out_dir / name), "--only-summary",
        "--exit-code-on-error", "0",
    ]
    env = {**os.environ, "DRILLKIT_LOAD_STAGES": json.dumps(stages)}
    return processes.Launch(name=name, argv=argv, env=env, cwd=Path.cwd(), log=out_dir / f"{name}.log")
