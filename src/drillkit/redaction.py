"""Secrets never reach a file or a log a run writes.

Every secret value this process reveals (a target's `secrets`, its Prometheus token, a webhook, the
sandbox's admin token) is remembered here, and every writer masks what it writes: durable's JSON files
and lines (journals, results, the fault log, history, session files), the rendered reports, and the
logging handlers of drillkit and chaoslib (`LogFilter`). A writer cannot know which of its strings came
from a secret, so the values themselves are what is masked, wherever they surface.

The set is process-wide on purpose: secrets are read deep inside an activity while the files are written
far from there, and a value must be masked by every writer once any part of the run has seen it. It only
grows; `forget_all` exists for tests.
"""

from __future__ import annotations

import logging
from typing import Any

MASK = "[REDACTED]"
MIN_LENGTH = 4  # a shorter value would mask ordinary words and digits, and guards nothing worth having

_known: set[str] = set()


def remember(value: str) -> str:
    """Mask VALUE in everything written from now on; VALUE is returned for the one place that needs it."""
    if len(value) >= MIN_LENGTH:
        _known.add(value)
    return value


def forget_all() -> None:
    """Tests only: start again with nothing to mask."""
    _known.clear()


def redact(text: str) -> str:
    """TEXT with every remembered secret replaced by MASK (the longest first, so none is half masked)."""
    for value in sorted(_known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def scrub(data: Any) -> Any:
    """DATA (JSON-like: mappings, sequences, strings) with every remembered secret masked, keys included;
    DATA itself when there is nothing to mask."""
    if not _known:
        return data
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {scrub(key): scrub(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [scrub(item) for item in data]
    return data


class LogFilter(logging.Filter):
    """Masks secrets in a record's message and traceback before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _known:
            return True
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
