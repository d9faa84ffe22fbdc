"""Where a load spike's files go, shared by its actions and its probes (not activities)."""

from __future__ import annotations

from pathlib import Path

from drillkit import processes
from drillkit.model.target import Target


def load_dir(target: Target) -> Path:
    """Where Locust's log, statistics and pid file go: beside the target's fault log."""
    return pid_file(target).parent


def pid_file(target: Target) -> Path:
    return target.fault_log.parent / processes.LOAD_PID_FILE
