"""Load test outputs: loadtest.json, junit.xml (one case per SLI), and a self-contained HTML page."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, PAD = 720, 200, 40


def write_all(result: dict[str, Any], out_dir: Path) -> list[Path]:
    files = {"loadtest.json": json.dumps(result, indent=2), "junit.xml": to_junit(result),
             "loadtest.html": to_html(result)}
    for name, text in files.items():
        (out_dir / name).write_text(text)
    return [out_dir / name for name in files]


def to_junit(result: dict[str, Any]) -> str:
    suite = ET.Element("testsuite", name=f"loadtest.{result['profile']['name']}", tests=str(len(result["slis"])),
                       failures=str(sum(not s["met"] for s in result["slis"])))
    for sli in result["slis"]:
        case = ET.SubElement(suite, "testcase", classname=f"loadtest.{result['profile']['name']}", name=sli["name"])
        if not sli["met"]:
            message = f"{sli['name']} was {sli['value']}, objective {sli['objective']}"
            ET.SubElement(case, "failure", message=message).text = message
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def to_html(result: dict[str, Any]) -> str:
    series = result["series"]
    verdict = "PASSED" if result["passed"] else "FAILED"
    rows = "".join(f"<tr><td>{escape(s['name'])}</td><td>{s['value']:.4%}</td><td>{escape(s['objective'])}</td>"
                   f"<td>{'met' if s['met'] else '<b>breached</b>'}</td></tr>" for s in result["slis"])
    errors = "".join(f"<tr><td>{escape(e)}</td><td>{n}</td></tr>" for e, n in result["errors"].items()) \
        or "<tr><td colspan=2>none</td></tr>"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Load test {escape(result['profile']['name'])}: {verdict}</title>
<style>body{{font:15px/1.45 system-ui,sans-serif;max-width:900px;margin:2rem auto;color:#1d2430}}
table{{border-collapse:collapse}}td,th{{padding:.25rem .6rem;border-bottom:1px solid #eef;text-align:left}}
svg{{width:100%;height:auto;background:#fafbff}}svg text{{font-size:10px;fill:#556}}
.rps{{fill:none;stroke:#1f8a4c;stroke-width:1.5}}.p50{{fill:none;stroke:#7a9fd6}}
.p95{{fill:none;stroke:#2a5db0;stroke-width:1.5}}.p99{{fill:none;stroke:#b3261e}}.fail{{fill:#b3261e}}</style>
</head><body><h1>Load test {escape(result['profile']['name'])}: {verdict}</h1>
<p>{escape(result['host'])} · {result['requests']} requests, {result['failures']} failed ·
{result['workers'] or 'no'} workers · p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms,
p99 {result['p99_ms']} ms</p>
<table><tr><th>SLI</th><th>value</th><th>objective</th><th></th></tr>{rows}</table>
<h2>Throughput (requests/s) and failures</h2>{_chart(series, ["requests"], bars="failures")}
<h2>Latency percentiles over time (ms)</h2>{_chart(series, ["p50_ms", "p95_ms", "p99_ms"])}
<h2>Errors</h2><table><tr><th>error</th><th>count</th></tr>{errors}</table>
<p>Latencies are every request's exact time from Locust's request event, merged as HdrHistograms;
Locust's own rounded percentiles are not used.</p></body></html>
"""


def _chart(series: list[dict[str, Any]], keys: list[str], bars: str | None = None) -> str:
    if not series:
        return "<p>no data</p>"
    top = max(max((p[k] or 0) for p in series for k in keys), 1)
    span = max(series[-1]["t"], 1)

    def point(p: dict[str, Any], key: str) -> str:
        x = PAD + p["t"] / span * (WIDTH - 2 * PAD)
        y = HEIGHT - PAD - (p[key] or 0) / top * (HEIGHT - 2 * PAD)
        return f"{x:.1f},{y:.1f}"

    classes = {"requests": "rps", "p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"}
    lines = "".join(f'<polyline class="{classes[k]}" points="{" ".join(point(p, k) for p in series)}">'
                    f"<title>{k}</title></polyline>" for k in keys)
    failures = "".join(
        f'<rect class="fail" x="{PAD + p["t"] / span * (WIDTH - 2 * PAD):.1f}" y="{HEIGHT - PAD - 6}" '
        f'width="2" height="6"><title>{p[bars]} failed</title></rect>'
        for p in series if bars and p[bars])
    return (f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><text x="4" y="{PAD}">{top:.0f}</text>'
            f'<text x="4" y="{HEIGHT - PAD}">0</text><text x="{WIDTH - PAD}" y="{HEIGHT - 8}">{span:.0f} s</text>'
            f"{lines}{failures}</svg>")
