"""Reading a YAML or JSON file into a pydantic model, with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from drillkit.errors import InvalidInput

Model = TypeVar("Model", bound=BaseModel)


def read_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML (or JSON) file."""
    if path.is_dir():
        raise InvalidInput(f"{path}: (file): is a folder, not a YAML or JSON file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: (file): not a text file (byte {exc.start} is not UTF-8): "
                           "expected YAML or JSON") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path}: (file): cannot be read: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: (top level): must be a mapping")
    return data


def validate_mapping(model: type[Model], data: dict[str, Any], source: Path) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_errors(source, exc)) from exc


def describe_errors(source: Path, exc: ValidationError) -> str:
    """One `file: field: reason` line per error."""
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{source}: {field}: {error['msg']}")
    return "\n".join(lines)
