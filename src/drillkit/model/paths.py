"""Where drillkit looks for its files when it is not told: the repository's layout, relative to the
working directory. Each default path has its one home here, for the command line, the drill manifest,
the fault activities and the measure control alike."""

from __future__ import annotations

from pathlib import Path

TARGET = Path("drills/targets/sandbox.yaml")     # the embedded sandbox
OBJECTIVES = Path("probes/objectives.yaml")
LOCUSTFILE = Path("loadtests/locustfile.py")
REPORTS = Path("reports")                        # every run's folder, and the trend across runs
HISTORY = REPORTS / "history.jsonl"
RUNS = REPORTS / "runs"                          # `drillkit run`'s folders
LOADTESTS = REPORTS / "loadtests"                # `drillkit loadtest`'s folders
LOCUST_MANIFESTS = Path("deploy/kubernetes/locust")  # `drillkit loadtest --kubernetes` renders this kustomization
