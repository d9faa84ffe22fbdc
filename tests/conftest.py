"""tests/docker (the Docker staging: a private engine, an image build, six containers) runs only when named
(`pytest tests/docker`): `pytest` alone, as `make test` runs it, leaves it out.

The runs the tests start are listed in a folder of the session's own, never in the machine's list, where
`drillkit abort --all` would find them (and they would find the machine's)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

DOCKER_TESTS = Path(__file__).parent / "docker"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path != DOCKER_TESTS:
        return None
    named = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    return not any(path.is_relative_to(DOCKER_TESTS) for path in named)


@pytest.fixture(scope="session", autouse=True)
def runs_of_this_session() -> Iterator[None]:
    with tempfile.TemporaryDirectory(prefix="drillkit-test-runs-") as folder:
        previous = os.environ.get("DRILLKIT_RUNS_DIR")
        os.environ["DRILLKIT_RUNS_DIR"] = folder  # the drillkit processes the tests start inherit it
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("DRILLKIT_RUNS_DIR", None)
            else:
                os.environ["DRILLKIT_RUNS_DIR"] = previous
