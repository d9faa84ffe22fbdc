"""The one JUnit XML writer, for a drill's gates and objectives and for a load test's SLIs alike."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One test case. FAILURE is the failure's message (None: the case passed), DETAIL its text (by
    default the message); ERROR says the case could not be judged at all (an aborted run, say)."""

    classname: str
    name: str
    failure: str | None = None
    detail: str | None = None
    error: str | None = None


def suite(name: str, cases: Iterable[Case]) -> str:
    """A <testsuite> of CASES, with its tests, failures and errors counted."""
    root = ET.Element("testsuite", name=name)
    failures = errors = 0
    for case in cases:
        element = ET.SubElement(root, "testcase", classname=case.classname, name=case.name)
        if case.failure is not None:
            failures += 1
            ET.SubElement(element, "failure", message=case.failure).text = (
                case.failure if case.detail is None else case.detail)
        if case.error is not None:
            errors += 1
            ET.SubElement(element, "error", message=case.error)
    root.set("tests", str(len(root)))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
