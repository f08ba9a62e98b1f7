"""Reading and validating twoloop's YAML files, with errors that name the file and place."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from graph_model.errors import ConfigFileInvalid

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigFileInvalid(str(path), "", "file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigFileInvalid(str(path), "", f"not valid YAML: {exc}") from None


def validate(model: type[M], data: Any, where: str) -> M:
    """``model.model_validate(data)``; the first error names its place in the file."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigFileInvalid(where, ".".join(str(p) for p in err["loc"]), err["msg"]) from None
