"""Probes of the database cluster."""

from __future__ import annotations

from chaoslib.types import Configuration, Secrets

from drillkit import patroni_api
from drillkit.faults.boundary import activity
from drillkit.faults.environment import environment

__all__ = ["db_leader", "replication_lag_bytes"]


@activity
def db_leader(configuration: Configuration = None, secrets: Secrets = None) -> str:
    """The running leader's name, or "" while there is none (so a regex tolerance can judge it)."""
    return patroni_api.leader(environment(configuration).target.patroni_apis()) or ""


@activity
def replication_lag_bytes(configuration: Configuration = None, secrets: Secrets = None) -> int | None:
    """The largest replica lag Patroni reports, in bytes (an estimate: measured RPO comes from the
    ledger); None when a replica's lag is unknown or there is no replica."""
    lags = [member.get("lag") for member in patroni_api.replicas(environment(configuration).target.patroni_apis())]
    known = [lag for lag in lags if isinstance(lag, int)]
    if not lags or len(known) != len(lags):
        return None
    return max(known)
