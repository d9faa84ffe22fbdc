"""The blast radius of a plan, shown by every `--dry-run`: for each fault action, which components it
touches, for how long at most, and which stop conditions guard it.

Pure: read from the validated experiment (after `${}` substitution) and its target; nothing is asked of
the environment, so a leader fault names the members that may lead at run time. "For how long" is the
time until the rollbacks heal the fault: the pauses after it and the time limits of the activities that
follow it in the method (or the fault's own duration, when it ends by itself); an activity without a
time limit makes it "until healed"."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from drillkit.model.stop import StopCondition
from drillkit.model.target import NotInTarget, Target
from drillkit.validation import fault_actions, fault_name

Arguments = dict[str, Any]
_FAULTS = "drillkit.faults."
_TIME_LIMITS = ("timeout_s", "wait_s")  # the arguments that bound how long a drillkit activity may take


def lines(target: Target, experiment: dict[str, Any], stops: Sequence[StopCondition] = (),
          drill_stops: Sequence[StopCondition] = ()) -> list[str]:
    """The blast radius of EXPERIMENT (substituted) against TARGET, one block per fault action. STOPS: the
    conditions its plan carries (validated), of which DRILL_STOPS are the drill's."""
    method = [a for a in experiment.get("method") or [] if isinstance(a, dict)]
    faults = fault_actions(experiment)
    if not faults:
        return ["blast radius: no fault action"]
    guards = _guards(drill_stops, [stop for stop in stops if stop not in drill_stops])
    found = ["blast radius:"]
    for index, action in faults:
        found += [f"  fault {action.get('name')} ({fault_name(action)})",
                  f"    touches: {touches(target, action)}",
                  f"    for at most: {how_long(action, method[index + 1:])}",
                  f"    guarded by: {guards}"]
    return found


def touches(target: Target, action: dict[str, Any]) -> str:
    """Which components ACTION touches in TARGET, in words."""
    provider = action.get("provider") or {}
    scope = _SCOPES.get(_call(action))
    if scope is None:
        return f"not known to drillkit: whatever {_call(action)} touches (check it before a real run)"
    try:
        return scope(target, provider.get("arguments") or {})
    except NotInTarget as exc:
        return str(exc)


def how_long(action: dict[str, Any], after: list[dict[str, Any]]) -> str:
    """How long ACTION's fault stays in place at most: until the rollbacks, after the activities AFTER it."""
    if _call(action) in _MOMENTARY:
        return "a moment: nothing stays in place to heal"
    own = _own_duration(action)
    bound = _until_rollbacks(action, after)
    if own is not None and (isinstance(bound, str) or own <= sum(bound)):
        return f"{own:.0f} s (the fault's own duration), then it ends by itself"
    if isinstance(bound, str):
        return f"until healed ({bound})"
    pauses, limits = bound
    return f"{pauses + limits:.0f} s (pauses {pauses:.0f} s, time limits {limits:.0f} s), then the rollbacks heal it"


def _until_rollbacks(action: dict[str, Any], after: list[dict[str, Any]]) -> tuple[float, float] | str:
    """The pauses and the time limits between ACTION and the rollbacks, or why nothing bounds them."""
    pauses, limits = [_seconds(action, "after")], 0.0
    if _call(action) in _IN_PLACE_WHILE_RUNNING:
        limits = _time_limit(action) or 0.0
    for activity in after:
        pauses += [_seconds(activity, "before"), _seconds(activity, "after")]
        limit = _time_limit(activity)
        if limit is None:
            return f"{activity.get('name')} has no time limit"
        limits += limit
    if None in pauses:
        return "a pause is not a number"
    return sum(p for p in pauses if p is not None), limits


def _guards(drill_stops: Sequence[StopCondition], own_stops: Sequence[StopCondition]) -> str:
    named = [f"drill: {_named(drill_stops)}"] if drill_stops else []
    named += [f"experiment: {_named(own_stops)}"] if own_stops else []
    return "; ".join(named) or "no stop condition"


def _named(stops: Sequence[StopCondition]) -> str:
    return ", ".join(f"{stop.name} ({stop.kind})" for stop in stops)


def _call(activity: dict[str, Any]) -> str:
    provider = activity.get("provider") or {}
    if provider.get("type") == "python":
        return f"{provider.get('module')}.{provider.get('func')}"
    if provider.get("type") == "process":
        return f"the command {provider.get('path')}"
    if provider.get("type") == "http":
        return f"{provider.get('method', 'GET')} {provider.get('url')}"
    return str(provider.get("type"))


def _seconds(activity: dict[str, Any], when: str) -> float | None:
    value = (activity.get("pauses") or {}).get(when, 0)
    return float(value) if isinstance(value, int | float) else None


def _time_limit(activity: dict[str, Any]) -> float | None:
    """The longest ACTIVITY may take; None when nothing bounds it."""
    provider = activity.get("provider") or {}
    if provider.get("type") in ("http", "process"):
        timeout = provider.get("timeout")
        limits = timeout if isinstance(timeout, list) else [timeout]
        return float(sum(limits)) if all(isinstance(t, int | float) for t in limits) else None
    if not _call(activity).startswith(_FAULTS):
        return None
    arguments = _arguments_with_defaults(activity)
    limit = next((arguments[name] for name in _TIME_LIMITS if name in arguments), 0)
    return float(limit) * float(arguments.get("requests", 1))  # each request has the time limit


def _arguments_with_defaults(activity: dict[str, Any]) -> Arguments:
    provider = activity.get("provider") or {}
    func = _function(provider)
    defaults = {name: p.default for name, p in inspect.signature(func).parameters.items()
                if p.default is not inspect.Parameter.empty} if func else {}
    return {**defaults, **(provider.get("arguments") or {})}


def _function(provider: dict[str, Any]) -> Callable[..., Any] | None:
    try:
        return getattr(importlib.import_module(str(provider.get("module"))), str(provider.get("func")), None)
    except ImportError:
        return None


def _own_duration(action: dict[str, Any]) -> float | None:
    """A load spike ends by itself: its baseline, spike and baseline again."""
    if not _call(action).endswith(".start_load_spike"):
        return None
    arguments = _arguments_with_defaults(action)
    return 2 * float(arguments["baseline_s"]) + float(arguments["spike_s"])


# What each fault touches, from its arguments and the target.
def _region(target: Target, arguments: Arguments) -> str:
    region = target.region(arguments["region"])
    return f"{region.app.component}, {region.database.component} in {arguments['region']}"


def _partition(target: Target, arguments: Arguments) -> str:
    name = arguments["region"]
    region = target.region(name)
    others = ", ".join(other for other in target.regions if other != name)
    return (f"{name}'s address {region.address} ({region.app.component}, {region.database.component}), "
            f"cut off from {others} and the witness")


def _leader(target: Target, arguments: Arguments | None = None) -> str:
    return f"the database leader at run time ({' or '.join(target.members())})"


def _replica(target: Target, arguments: Arguments) -> str:
    replica = arguments.get("replica")
    who = _member(target, replica) if replica else f"a replica at run time ({' or '.join(target.members())})"
    return f"{who}: its replication from the leader"


def _switchover(target: Target, arguments: Arguments) -> str:
    candidate = arguments.get("candidate")
    to = _member(target, candidate) if candidate else "any healthy replica"
    return f"{_leader(target)}, handing the lead to {to}"


def _member(target: Target, name: str) -> str:
    target.member(name)  # raises NotInTarget, naming what the target has
    return name


def _connections(target: Target, arguments: Arguments) -> str:
    return f"client connections to {arguments.get('database', 'feedhub')} on {_leader(target)}"


def _app(target: Target, arguments: Arguments) -> str:
    return f"{target.region(arguments['region']).app.component} in {arguments['region']}"


def _http_faults(target: Target, arguments: Arguments) -> str:
    latency, errors = arguments.get("latency_ms", 0), arguments.get("error_rate", 0.0)
    return (f"{_app(target, arguments)}: +{latency:g} ms and {errors:.0%} errors on "
            f"{arguments.get('path_prefix', '/api/')}")


def _load(target: Target, arguments: Arguments) -> str:
    users, multiplier = arguments.get("base_users", 5), arguments.get("multiplier", 8.0)
    return f"the global endpoint {str(target.endpoint).rstrip('/')} ({round(users * multiplier)} users at the peak)"


def _migration(target: Target, arguments: Arguments) -> str:
    share = float(arguments.get("fraction", 0.9))
    return (f"the ledger table on {_leader(target)} and every replica: {share:.0%} of its rows deleted "
            "(kept in a side table until the rollback puts them back)")


def _copy(target: Target, where: str) -> str:
    if target.backups is None:
        return "the target has no backups: block, so there is no backup server to restore from"
    backups = target.backups
    return (f"a new instance on {backups.restore_address}:{backups.restore_port} restored from {backups.server}'s "
            f"{where}; {backups.barman_config.parent / 'restores'} holds it until the rollback removes it")


def _point_in_time(target: Target, arguments: Arguments) -> str:
    return _copy(target, "backups and WAL") + "; then the ledger rows it holds are copied back to the leader"


def _from_backups(target: Target, arguments: Arguments) -> str:
    return _copy(target, "newest full backup and its incrementals") + "; it takes one test write"


_SCOPES: dict[str, Callable[[Target, Arguments], str]] = {
    "drillkit.faults.backup.actions.bad_migration": _migration,
    "drillkit.faults.backup.actions.restore_point_in_time": _point_in_time,
    "drillkit.faults.backup.actions.restore_from_backups": _from_backups,
    "drillkit.faults.region.actions.fail_region": _region,
    "drillkit.faults.region.actions.partition_region": _partition,
    "drillkit.faults.database.actions.kill_primary": _leader,
    "drillkit.faults.database.actions.stop_primary": _leader,
    "drillkit.faults.database.actions.isolate_replica": _replica,
    "drillkit.faults.database.actions.switchover": _switchover,
    "drillkit.faults.database.actions.terminate_connections": _connections,
    "drillkit.faults.app.actions.kill_app": _app,
    "drillkit.faults.app.actions.pause_app": _app,
    "drillkit.faults.app.actions.inject_http_faults": _http_faults,
    "drillkit.faults.load.actions.start_load_spike": _load,
}
# Faults in place from the start of their own activity (a restored copy exists while it restores).
_IN_PLACE_WHILE_RUNNING = frozenset({"drillkit.faults.backup.actions.restore_point_in_time",
                                     "drillkit.faults.backup.actions.restore_from_backups"})
_MOMENTARY = frozenset({"drillkit.faults.database.actions.switchover",
                        "drillkit.faults.database.actions.terminate_connections"})
