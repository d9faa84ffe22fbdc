"""Database faults: the primary killed or stopped, a replica cut off, a switchover, connections dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import psycopg
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from drillkit import patroni_api
from drillkit.faults.boundary import activity
from drillkit.faults.drivers.base import Driver
from drillkit.faults.environment import Environment, environment, heal, inject

__all__ = [
    "kill_primary",
    "stop_primary",
    "restore_database",
    "isolate_replica",
    "rejoin_replica",
    "switchover",
    "terminate_connections",
]

_KillScope = Literal["node", "postgres"]
# What dies with each scope: the whole node (Patroni and PostgreSQL), or the postmaster alone.
_KILLS: dict[_KillScope, Callable[[Driver, str], None]] = {
    "node": lambda driver, member: driver.kill(member, graceful=False),
    "postgres": lambda driver, member: driver.kill_postgres(member),
}


@activity
def kill_primary(
    scope: _KillScope = "node", configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """SIGKILL the current leader, found at run time from Patroni.

    scope "node": Patroni and PostgreSQL die together, as in a host crash: the leader lock expires
    after ttl and a replica is promoted. scope "postgres": only the postmaster dies and Patroni,
    still holding the lock, restarts it (crash recovery, no failover)."""
    if scope not in _KILLS:
        raise ValueError(f"scope must be {' or '.join(map(repr, get_args(_KillScope)))}, not {scope!r}")
    env = environment(configuration)
    primary = _leader(env)
    kill = _KILLS[scope]
    return inject(env, "kill_primary", (restore_database, {}), lambda: kill(env.driver, primary),
                  member=primary, scope=scope)


@activity
def stop_primary(configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Stop the leader node cleanly: Patroni fast-shuts PostgreSQL down and releases the lock."""
    env = environment(configuration)
    primary = _leader(env)
    return inject(env, "stop_primary", (restore_database, {}),
                  lambda: env.driver.kill(primary, graceful=True), member=primary)


@activity
def restore_database(
    timeout_s: float = 90, configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """Start every stopped member again and wait for a leader: the rollback of kill and stop."""
    env = environment(configuration)

    def restore() -> dict:
        env.driver.restore()
        return {"leader": patroni_api.wait_for_leader(env.target.patroni_apis(), timeout_s)}

    return heal(env, "restore_database", {}, restore)


@activity
def isolate_replica(
    replica: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """Cut the replica's replication traffic to the primary: it falls behind while the primary keeps
    acknowledging writes (asynchronous replication)."""
    env = environment(configuration)
    primary = _leader(env)
    replica = replica or _a_replica(env, primary)
    tag = f"drillkit:isolate:{replica}"
    return inject(env, "isolate_replica", (rejoin_replica, {"replica": replica}),
                  lambda: env.driver.cut_replication(tag, replica, primary),
                  replica=replica, primary=primary)


@activity
def rejoin_replica(
    replica: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """Reconnect REPLICA to the primary (every isolated replica when None)."""
    env = environment(configuration)
    if replica is not None:
        return _rejoin(env, replica)
    isolated = [f.heal_args["replica"] for f in env.faults.open_faults() if f.heal_action == "rejoin_replica"]
    return {"rejoined": [_rejoin(env, name) for name in isolated]}


def _rejoin(env: Environment, replica: str) -> dict:
    tag = f"drillkit:isolate:{replica}"
    return heal(env, "rejoin_replica", {"replica": replica}, lambda: {"rules_removed": env.driver.mend(tag)})


@activity
def switchover(
    candidate: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """A planned switchover through Patroni's REST API (to CANDIDATE, or to any healthy replica)."""
    env = environment(configuration)
    primary = _leader(env)

    def switch() -> dict:
        answer = patroni_api.switchover(env.target.patroni_api(primary), primary, candidate)
        return {**answer, "new_leader": patroni_api.wait_for_leader(env.target.patroni_apis(), 60, other_than=primary)}

    return inject(env, "switchover", None, switch, previous_leader=primary)


@activity
def terminate_connections(
    database: str = "feedhub", configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """Terminate every client connection to DATABASE on the primary (pg_terminate_backend)."""
    env = environment(configuration)
    primary = _leader(env)

    def terminate() -> dict:
        with psycopg.connect(env.driver.superuser_dsn(primary), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                (database,),
            ).fetchall()
        return {"terminated": sum(1 for (done,) in rows if done)}

    return inject(env, "terminate_connections", None, terminate, member=primary)


def _leader(env: Environment) -> str:
    name = patroni_api.leader(env.target.patroni_apis())
    if name is None:
        raise ActivityFailed("the cluster has no running leader right now")
    return name


def _a_replica(env: Environment, primary: str) -> str:
    names = [m["name"] for m in patroni_api.replicas(env.target.patroni_apis()) if m["name"] != primary]
    if not names:
        raise ActivityFailed("the cluster has no replica to isolate")
    return names[0]
