"""One SLI against its objective: the one judge of the drill's baseline and of `drillkit loadtest`.
A value that was not measured gets the verdict "not measured", which is never met."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from drillkit.model.measurements import Sli
from drillkit.model.objectives import Objectives
from drillkit.model.report import Verdict


@dataclass(frozen=True)
class SliVerdict:
    """One SLI against its objective. VALUE None: not measured, never met."""

    name: str
    value: float | None
    objective: str
    verdict: Verdict
    reason: str

    @property
    def met(self) -> bool:
        return self.verdict == "met"


@dataclass(frozen=True)
class Bound:
    symbol: str
    holds: Callable[[float, float], bool]


AT_LEAST = Bound(">=", operator.ge)
AT_MOST = Bound("<=", operator.le)


def sli_verdicts(measured: Sli, objectives: Objectives) -> list[SliVerdict]:
    """Availability, error rate and the latency SLI of MEASURED, each against its objective."""
    return [
        _judge("availability", measured.availability, AT_LEAST, objectives.availability, measured),
        _judge("error_rate", measured.error_rate, AT_MOST, objectives.error_rate, measured),
        _judge(f"latency_{objectives.latency_threshold_ms:.0f}ms", measured.latency_sli, AT_LEAST,
               objectives.latency_target, measured),
    ]


def _judge(name: str, value: float | None, bound: Bound, objective: float, measured: Sli) -> SliVerdict:
    wanted = f"{bound.symbol} {objective}"
    if value is None:
        return SliVerdict(name, None, wanted, "not measured", f"{name} was not measured: {measured.reason}")
    met = bound.holds(value, objective)
    return SliVerdict(name, value, wanted, "met" if met else "not met", f"{name} was {value}, objective {wanted}")
