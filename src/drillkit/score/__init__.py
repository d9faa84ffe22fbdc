"""Scoring: a pure function of a drill run and its objectives (docs/scoring.md)."""

from drillkit.score.score import score

__all__ = ["score"]
