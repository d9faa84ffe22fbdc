"""A load test's outputs: loadtest.json, junit.xml (one case per SLI) and loadtest.html, rendered from the
result `drillkit loadtest` judged, with the drill report's JUnit writer, charts and templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drillkit.report import junit
from drillkit.report.charts import Series, series_chart
from drillkit.report.render import page

MARK = {"met": "[green]met[/]", "not met": "[red]BREACHED[/]", "not measured": "[red]NOT MEASURED[/]"}
SHOWN = {"met": "met", "not met": "breached", "not measured": "not measured"}
LATENCY_LINES = (("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))


def write_all(result: dict[str, Any], out_dir: Path) -> list[Path]:
    files = {"loadtest.json": json.dumps(result, indent=2), "junit.xml": to_junit(result),
             "loadtest.html": to_html(result)}
    for name, text in files.items():
        (out_dir / name).write_text(text)
    return [out_dir / name for name in files]


def to_junit(result: dict[str, Any]) -> str:
    suite = f"loadtest.{result['profile']['name']}"
    return junit.suite(suite, [junit.Case(suite, sli["name"], failure=None if sli["met"] else sli["reason"])
                               for sli in result["slis"]])


def to_html(result: dict[str, Any]) -> str:
    series = result["series"]
    return page("loadtest.html.j2", result=result, verdict="PASSED" if result["passed"] else "FAILED",
                percent=percent, shown=SHOWN, throughput_chart=throughput_chart(series),
                latency_chart=latency_chart(series))


def throughput_chart(series: list[dict[str, Any]]) -> str:
    """Requests per second, with a mark on the time axis for every second that had failures."""
    requests = Series("rps", "requests", [(p["t"], p["requests"]) for p in series])
    failures = [(p["t"], f"{p['failures']} failed") for p in series if p["failures"]]
    return series_chart([requests], unit="/s", marks=failures)


def latency_chart(series: list[dict[str, Any]]) -> str:
    return series_chart([Series(css, f"{css} ms", [(p["t"], p[key]) for p in series]) for css, key in LATENCY_LINES],
                        unit="ms")


def sli_lines(result: dict[str, Any]) -> list[str]:
    """What `drillkit loadtest` prints: each SLI with its objective and verdict, in rich markup."""
    return [f"{sli['name']}: {percent(sli['value'])} (objective {sli['objective']}) {MARK[sli['verdict']]}"
            for sli in result["slis"]]


def percent(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.4%}"
