"""Configs from shipped TOML presets and user files, plus overrides: :func:`load_config`."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path

from ..errors import ConfigError
from ..models import validate_model_params
from .messages import section_fields
from .schema import DataConfig, ModelConfig, RunConfig


def presets_dir():
    """The folder of shipped TOML presets (works from an installed wheel)."""
    return resources.files("manifold_lens.data") / "presets"


def list_presets() -> list[str]:
    return sorted(p.name[:-5] for p in presets_dir().iterdir() if p.name.endswith(".toml"))


def preset_description(name: str) -> str:
    """The ``description`` line of a shipped preset."""
    return str(tomllib.loads((presets_dir() / f"{name}.toml").read_text()).get("description", ""))


def load_preset(name: str) -> RunConfig:
    path = presets_dir() / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(list_presets())}")
    return _from_toml_text(path.read_text(), f"preset {name!r}")


def load_config_file(path: str | Path) -> RunConfig:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config = {p}: no such file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config = {p}: not a text file (not UTF-8); give a TOML or JSON config") from None
    if p.suffix == ".json":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"config = {p}: not valid JSON ({e}); fix the file or give a TOML config") from None
        if not isinstance(d, dict):
            raise ConfigError(f"config = {p}: a JSON config must be an object of sections, e.g. {{\"train\": {{}}}}")
        return RunConfig.from_dict(d)
    return _from_toml_text(text, f"config = {p}")


def load_config(preset: str | None = None, config: str | Path | None = None,
                overrides: list[str] | None = None) -> RunConfig:
    """Resolve preset or file plus overrides into a validated, resolved RunConfig."""
    if preset and config:
        raise ConfigError("give either preset or config, not both")
    cfg = load_config_file(config) if config else load_preset(preset or "quick")
    if overrides:
        cfg = cfg.with_overrides(overrides)
    return cfg.checked().resolved()


def _from_toml_text(text: str, where: str) -> RunConfig:
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML ({e})") from None
    d.pop("description", None)
    return RunConfig.from_dict(d)


def valid_keys(section: str = "") -> list[str]:
    """All keys of a section ('' for the top level), for messages and docs.

    For ``model``: ``name`` and the parameters of the default model.
    """
    if section == "model":
        return ["name", *validate_model_params(ModelConfig().name, {}, DataConfig().image_size)]
    return section_fields(RunConfig, [p for p in section.split(".") if p])
