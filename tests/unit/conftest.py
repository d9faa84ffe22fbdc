"""Shared by every unit test."""

from __future__ import annotations

import pytest

from drillkit import redaction

from .kube_emulator import Cluster, example_target, healthy_platform, running_emulator, seed


@pytest.fixture(autouse=True)
def _nothing_to_mask():
    """The secrets a test reveals are masked for its own writes only, never in the next test's."""
    yield
    redaction.forget_all()


@pytest.fixture
def cluster(tmp_path):
    """The example kubernetes target on an emulated API server, seeded with its workloads and pods."""
    with running_emulator() as (handler, url), healthy_platform() as platform:
        seed(handler)
        yield Cluster(handler, example_target(tmp_path, url, platform))
