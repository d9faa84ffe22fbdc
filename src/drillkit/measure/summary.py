"""Superseded by measure/analysis.py; kept only so that importers compile until they move."""

from __future__ import annotations

from drillkit.measure.analysis import USER_KINDS, USER_PROBER, analyze

USER_PATH = ("global", USER_KINDS)


def summarize(**_: object) -> None:
    raise NotImplementedError(f"use drillkit.measure.analysis.analyze (user path: {USER_PROBER})")


__all__ = ["USER_PATH", "analyze", "summarize"]
