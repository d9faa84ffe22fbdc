"""JSON Schemas of drillkit's YAML formats, for editors (`# yaml-language-server: $schema=…`)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from drillkit.model.drill import Drill
from drillkit.model.objectives import Objectives
from drillkit.model.profile import LoadProfile
from drillkit.model.target import Target
from drillkit.sandbox.config import SandboxConfig

SCHEMAS: dict[str, type[BaseModel]] = {"target": Target, "drill": Drill, "objectives": Objectives,
                                     "profile": LoadProfile, "sandbox": SandboxConfig}


def render(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = directory / f"{name}.schema.json"
        path.write_text(render(model))
        written.append(path)
    return written
