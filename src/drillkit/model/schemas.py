"""JSON Schemas of drillkit's file formats, generated from the models: the YAML inputs (for editors,
`# yaml-language-server: $schema=…`) and report.json (for whoever reads it). Never kept by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from drillkit.model.backup import BackupPolicy
from drillkit.model.drill import Drill
from drillkit.model.objectives import Objectives
from drillkit.model.profile import LoadProfile
from drillkit.model.report import Report
from drillkit.model.sandbox import SandboxConfig
from drillkit.model.target import Target

SCHEMAS: dict[str, type[BaseModel]] = {"target": Target, "drill": Drill, "objectives": Objectives,
                                     "profile": LoadProfile, "sandbox": SandboxConfig, "report": Report,
                                     "backup-policy": BackupPolicy}
WRITTEN = {"report"}  # files drillkit writes: their schema describes the serialised form


def render(model: type[BaseModel]) -> str:
    mode: Literal["validation", "serialization"] = "validation"
    if any(SCHEMAS[name] is model for name in WRITTEN):
        mode = "serialization"
    return json.dumps(model.model_json_schema(mode=mode, by_alias=True), indent=2, sort_keys=True) + "\n"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = directory / f"{name}.schema.json"
        path.write_text(render(model))
        written.append(path)
    return written
