"""drillkit's fault library: Chaos Toolkit activities, one folder per area, and their drivers.

Experiments name activities by module path (`drillkit.faults.region.actions`), so these paths are
part of the experiment format. An activity module (`*/actions.py`, `*/probes.py`) makes public only its
activities, listed in `__all__` and decorated with `boundary.activity`, so that whatever goes wrong in one
leaves it as ActivityFailed with a sentence; the helpers they share live beside them (`environment`,
`region/health.py`, `load/paths.py`). `heal_actions` names the rollbacks a fault log may hold, which
`recovery` maps back to their activities.
"""
