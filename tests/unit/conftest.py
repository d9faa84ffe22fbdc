"""Shared by every unit test."""

from __future__ import annotations

import pytest

from drillkit import redaction


@pytest.fixture(autouse=True)
def _nothing_to_mask():
    """The secrets a test reveals are masked for its own writes only, never in the next test's."""
    yield
    redaction.forget_all()
