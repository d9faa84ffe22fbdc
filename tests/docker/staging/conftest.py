"""One Docker staging for the whole session, on an engine of its own, always taken down at the end; then the
host's network must be as it was. Run under the Docker lock, one at a time on a machine:

    flock /tmp/drillkit-docker.lock env PYTHONPATH=$PWD/src .venv/bin/python -m pytest tests/docker -q
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drillkit.staging import topology
from drillkit.staging.engine import HostNetwork, missing_packages
from drillkit.staging.stack import Staging, left_on_host

ENGINE_ROOT = Path("/var/lib/drillkit/docker-staging-test")


@pytest.fixture(scope="session")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staging]:
    if missing_packages():
        pytest.skip(f"missing Debian packages {missing_packages()}: `make docker-packages`")
    before = HostNetwork.now()
    if any(name.startswith(topology.BRIDGE_PREFIX) for name in before.interfaces):
        pytest.fail("a Docker staging already runs (its dkstg-* bridges exist): `drillkit staging down` first")
    staging = Staging(state_dir=tmp_path_factory.mktemp("staging"), engine_root=ENGINE_ROOT, report=print)
    try:
        staging.up()
        yield staging
    finally:
        staging.down(purge=True)
        assert left_on_host(before) == [], "the staging left something on the host's network"
