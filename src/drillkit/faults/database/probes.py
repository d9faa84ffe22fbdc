"""Probes of the database cluster."""

from __future__ import annotations

from chaoslib.types import Configuration, Secrets

from drillkit import patroni_api
from drillkit.faults.environment import environment

__all__ = ["db_leader", "replication_lag_bytes"]


def db_leader(configuration: Configuration = None, secrets: Secrets = None) -> str:
    """The running leader's name, or "" while there is none (so a regex tolerance can judge it)."""
    return patroni_api.leader(environment(configuration).target.patroni_apis()) or ""


def replication_lag_bytes(configuration: Configuration = None, secrets: Secrets = None) -> int | None:
    """The largest replica lag Patroni reports, in bytes (an estimate: measured RPO comes from the
    ledger); None when a replica's lag is unknown or there is no replica."""
    lags = [member.get("lag") for member in patroni_api.replicas(environment(configuration).target.patroni_apis())]
    if not lags or not all(isinstance(lag, int) for lag in lags):
        return None
    return max(lags)
