"""Database faults: the primary killed or stopped, a replica cut off, a switchover, connections dropped."""

from __future__ import annotations

import psycopg
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from drillkit import patroni_api
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

RESTORE = "restore_database"


def kill_primary(scope: str = "node", configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """SIGKILL the current leader, found at run time from Patroni.

    scope "node": Patroni and PostgreSQL die together, as in a host crash: the leader lock expires
    after ttl and a replica is promoted. scope "postgres": only the postmaster dies and Patroni,
    still holding the lock, restarts it (crash recovery, no failover)."""
    if scope not in ("node", "postgres"):
        raise ValueError(f"scope must be 'node' or 'postgres', not {scope!r}")
    env = environment(configuration)
    primary = _leader(env)
    if scope == "node":
        action = lambda: env.driver.kill(primary, graceful=False)  # noqa: E731
    else:
        action = lambda: env.driver.kill_postgres(primary)  # noqa: E731
    return inject(env, "kill_primary", (RESTORE, {}), action, member=primary, scope=scope)


def stop_primary(configuration: Configuration = None, secrets: Secrets = None) -> dict:
    """Stop the leader node cleanly: Patroni fast-shuts PostgreSQL down and releases the lock."""
    env = environment(configuration)
    primary = _leader(env)
    return inject(env, "stop_primary", (RESTORE, {}),
                  lambda: env.driver.kill(primary, graceful=True), member=primary)


def restore_database(
    timeout_s: float = 90, configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """Start every stopped member again and wait for a leader: the rollback of kill and stop."""
    env = environment(configuration)

    def restore() -> dict:
        env.driver.restore()
        return {"leader": patroni_api.wait_for_leader(env.target.patroni_apis(), timeout_s)}

    return heal(env, RESTORE, {}, restore)


def isolate_replica(
    replica: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict:
    """Cut the replica's replication traffic to the primary: it falls behind while the primary keeps
    acknowledging writes (asynchronous replication)."""
    env = environment(configuration)
    primary = _leader(env)
    replica = replica or _a_replica(env, primary)
    tag = f"drillkit:isolate:{replica}"
    return inject(env, "isolate_replica", ("rejoin_replica", {"replica": replica}),
                  lambda: env.driver.cut_replication(tag, replica, primary),
                  replica=replica, primary=primary)


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
