"""Probes of the database cluster."""

from __future__ import annotations

from chaoslib.types import Configuration, Secrets

from drillkit.faults.database import cluster
from drillkit.faults.environment import environment

__all__ = ["db_leader", "replication_lag_bytes"]


def db_leader(configuration: Configuration = None, secrets: Secrets = None) -> str:
    """The running leader's name, or "" while there is none (so a regex tolerance can judge it)."""
    return cluster.leader(environment(configuration).target) or ""


def replication_lag_bytes(configuration: Configuration = None, secrets: Secrets = None) -> int | None:
    """The largest replica lag Patroni reports, in bytes (an estimate: measured RPO comes from the
    ledger); None when a replica's lag is unknown or there is no replica."""
    lags = [member.get("lag") for member in cluster.replicas(environment(configuration).target)]
    if not lags or not all(isinstance(lag, int) for lag in lags):
        return None
    return max(lags)
