"""A minimal sandbox target for tests that need a target file and never reach its servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def unreachable_target_spec(tmp_path: Path) -> dict[str, Any]:
    """Two regions whose apps and Patroni APIs listen on port 1 and 2: nothing answers there."""
    return {
        "name": "t", "kind": "sandbox", "driver": {"type": "process", "state_dir": str(tmp_path / "state")},
        "endpoint": "http://127.0.0.1:1",
        "regions": {name: {"address": f"127.0.{i}0.1",
                           "app": {"component": f"app-{x}", "url": f"http://127.0.{i}0.1:1"},
                           "database": {"component": f"pg-{x}", "patroni_api": f"http://127.0.{i}0.1:2"}}
                    for i, x, name in ((1, "a", "region-a"), (2, "b", "region-b"))},
    }
