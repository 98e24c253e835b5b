"""Loads a TOML configuration file into a strict pydantic model (shared by branch and center).

An unknown or invalid key stops start-up with ONE line that names the file and the key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, ValidationInfo

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """One line naming the file, the key and what is wrong with it."""


def describe_validation_error(source: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'"
    if err["type"] == "missing":
        return f"{source}: missing key '{key}'"
    return f"{source}: invalid value for '{key}': {err['msg']}"


def load_toml_model(path: Path, model: type[M]) -> M:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return model.model_validate(raw, context={"config_dir": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(str(path), exc)) from exc


def resolve_path(value: Path, config_dir: Path | None) -> Path:
    """Relative paths in a config file are relative to the file, not to wherever the process started."""
    if value.is_absolute() or config_dir is None:
        return value
    return (config_dir / value).resolve()


def _check_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def _resolve_against_file(value: Path, info: ValidationInfo) -> Path:
    return resolve_path(value, info.context.get("config_dir") if info.context else None)


class StrictSection(BaseModel):
    """A configuration section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


TimeZoneName = Annotated[str, AfterValidator(_check_zone)]
ConfigPath = Annotated[Path, AfterValidator(_resolve_against_file)]
