"""Shared by the whole suite. tests/docker starts a private Docker engine and containers: plain `pytest`
(and `make test`) leaves it out; naming it runs it: `pytest tests/docker`."""

from __future__ import annotations

from pathlib import Path

DOCKER_TESTS = Path(__file__).parent / "docker"


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    if collection_path != DOCKER_TESTS:
        return None
    named = [Path(arg.split("::")[0]).absolute() for arg in config.args]
    return not any(path == DOCKER_TESTS or DOCKER_TESTS in path.parents for path in named) or None
