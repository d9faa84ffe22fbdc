"""drillkit's fault library: Chaos Toolkit activities, one folder per area, and their drivers.

Experiments name activities by module path (`drillkit.faults.region.actions`), so these paths are
part of the experiment format.
"""
