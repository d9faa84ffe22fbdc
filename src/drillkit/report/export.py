"""Where a drill's metrics go besides its run folder: the target's `metrics` settings.

The textfile is replaced atomically (written beside it under a name that does not end in `.prom`, then
renamed), because node_exporter's textfile collector reads every *.prom file of its directory at any
moment. The Pushgateway gets a PUT of the same series under /metrics/job/drillkit/drill/<drill>/target/
<target>: each drill of each target keeps its latest run there, the run id being a label, not part of
the group (a group per run would pile up forever). Exporting never changes a drill's verdict: a failure
is returned as a warning sentence for the caller to print.
"""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path
from urllib.parse import quote

import httpx

from drillkit import durable
from drillkit.model.report import Report
from drillkit.model.target import MetricsOut
from drillkit.report import openmetrics

__all__ = ["JOB", "export", "grouping_path", "push", "write_textfile"]

JOB = "drillkit"
PUSH_TIMEOUT_S = 10.0
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"  # what every Pushgateway version reads


def export(report: Report, settings: MetricsOut | None, *, client: httpx.Client | None = None) -> list[str]:
    """Write REPORT's metrics to the textfile and push them to the Pushgateway that SETTINGS name; the
    warnings of what failed (none when all went out)."""
    if settings is None:
        return []
    warnings = []
    if settings.textfile is not None:
        try:
            write_textfile(settings.textfile, openmetrics.render(report))
        except OSError as exc:
            warnings.append(f"metrics.textfile {settings.textfile}: not written: {exc}")
    if settings.pushgateway is not None:
        try:
            push(str(settings.pushgateway), report, client=client)
        except httpx.HTTPError as exc:
            warnings.append(f"metrics.pushgateway {settings.pushgateway}: not pushed: {_reason(exc)}")
    return warnings


def write_textfile(path: Path, text: str) -> None:
    """Replace PATH with TEXT: a reader sees the old file or the new one, never half of one (the
    temporary file ends in `.tmp`, which the collector skips)."""
    durable.write_text(path, text, mode=0o644)  # node_exporter usually runs as a user of its own


def push(gateway: str, report: Report, *, client: httpx.Client | None = None) -> None:
    """PUT REPORT's series to the Pushgateway, replacing its group's previous ones."""
    url = gateway.rstrip("/") + grouping_path(report)
    body = openmetrics.render_text_format(report).encode()
    headers = {"Content-Type": TEXT_FORMAT}
    with _client(client) as http:
        http.put(url, content=body, headers=headers).raise_for_status()


def _client(given: httpx.Client | None) -> contextlib.AbstractContextManager[httpx.Client]:
    """The caller's client, left open; else one of our own, closed after use."""
    return contextlib.nullcontext(given) if given is not None else httpx.Client(timeout=PUSH_TIMEOUT_S)


def grouping_path(report: Report) -> str:
    """/metrics/job/drillkit/drill/<drill>/target/<target>, values escaped as the Pushgateway reads them."""
    key = {"drill": report.drill, "target": report.target_name or report.target}
    return f"/metrics/job/{JOB}" + "".join(f"/{_segment(name, value)}" for name, value in key.items())


def _segment(name: str, value: str) -> str:
    """A value with a slash, empty, or only dots (which a client folds away: /drill/../target) goes
    base64-encoded, the Pushgateway's own convention."""
    if not value or "/" in value or value in (".", ".."):
        encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
        return f"{name}@base64/{encoded}"
    return f"{name}/{quote(value, safe='')}"


def _reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"the Pushgateway answered {exc.response.status_code}: {exc.response.text.strip()[:200]}"
    return f"{type(exc).__name__}: {exc}"
