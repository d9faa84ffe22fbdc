"""Renderings of a report: Markdown for chat and mail, JUnit XML for CI, self-contained HTML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from drillkit.report import charts


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, default=str)


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Drill {report['drill']}: {report['status'].upper()}, score {report['score']} ({report['grade']})",
        "",
        f"{report['started_utc'][:16].replace('T', ' ')} UTC against `{report['target']}`.",
    ]
    if report.get("aborted") or report.get("invalid_reason"):
        lines += ["", f"**{report.get('aborted') or report.get('invalid_reason')}**"]
    lines += ["", "| objective | target | measured | month projected | met |", "|---|---|---|---|---|"]
    lines += [f"| {o['name']} | {o['target']} | {_value(o['measured'], o['unit'])} | "
              f"{_value(o['projected_month'], o['unit'])} | {'yes' if o['met'] else '**no**'} |"
              for o in report["objectives"]]
    lines += ["", "| experiment | score | RTO (s) | lost writes | availability | p95 |", "|---|---|---|---|---|---|"]
    for e in report["experiments"]:
        lines.append(f"| {e['name']} | {e['score']} | {_rto(e['rto'])} | {e['rpo'].get('lost_writes')} | "
                     f"{_value(e['slo'].get('availability'), 'ratio')} | {_value(e['slo'].get('p95_ms'), 'ms')} |")
    if report["findings"]:
        lines += ["", "Findings:", *[f"- {finding}" for finding in report["findings"]]]
    if report["trend"]["regressions"]:
        lines += ["", "Regressions since the previous run:", *[f"- {r}" for r in report["trend"]["regressions"]]]
    return "\n".join(lines) + "\n"


def to_junit(report: dict[str, Any]) -> str:
    """One test case per objective (hard gate) per experiment."""
    suite = ET.Element("testsuite", name=f"drill.{report['drill']}")
    failures = 0
    for e in report["experiments"]:
        for gate, passed in e["gates"].items():
            case = ET.SubElement(suite, "testcase", classname=f"drill.{report['drill']}.{e['name']}", name=gate)
            if not passed:
                failures += 1
                ET.SubElement(case, "failure", message=e["gate_reasons"][gate]).text = e["gate_reasons"][gate]
    if report.get("invalid_reason") or report.get("aborted"):
        case = ET.SubElement(suite, "testcase", classname=f"drill.{report['drill']}", name="run_valid")
        ET.SubElement(case, "error", message=report.get("invalid_reason") or report.get("aborted"))
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", "1" if report.get("invalid_reason") or report.get("aborted") else "0")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def to_html(report: dict[str, Any]) -> str:
    environment = Environment(loader=PackageLoader("drillkit.report", "templates"),
                              autoescape=select_autoescape(["html", "j2"]))
    environment.filters["value"] = _value
    environment.filters["rto"] = _rto
    environment.globals.update(timeline_chart=charts.timeline_chart, trend_chart=charts.trend_chart)
    return environment.get_template("report.html.j2").render(report=report)


def write_all(report: dict[str, Any], run_dir: Path) -> list[Path]:
    outputs = {"report.json": to_json, "report.md": to_markdown, "junit.xml": to_junit, "report.html": to_html}
    written = []
    for name, render in outputs.items():
        path = run_dir / name
        path.write_text(render(report))
        written.append(path)
    return written


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value:.3%}"
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:g} s"


def _rto(rto: dict[str, Any]) -> str:
    if rto.get("bounded") is None:
        return "—"
    if not rto["bounded"]:
        return f"unbounded (> {rto['lower']})"
    return f"{rto['seconds']} [{rto['lower']}, {rto['upper']}]"
