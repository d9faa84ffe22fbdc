"""tests/docker (the Docker staging: a private engine, an image build, six containers) runs only when named
(`pytest tests/docker`): `pytest` alone, as `make test` runs it, leaves it out."""

from __future__ import annotations

from pathlib import Path

import pytest

DOCKER_TESTS = Path(__file__).parent / "docker"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path != DOCKER_TESTS:
        return None
    named = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    return not any(path.is_relative_to(DOCKER_TESTS) for path in named)
