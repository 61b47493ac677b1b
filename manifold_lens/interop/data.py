"""The data an imported run is analysed on: a bundled family by config (a TOML/JSON data section).

Without ``data`` the bump family on the model's own frame (``sample_size``
px, unit spacing and width) is assumed. A data section is a TOML or JSON file
holding a ``[data]`` table (or the table's keys at the top level), or a dict.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from ..config import DataConfig, validate_section
from ..errors import ConfigError

SUFFIXES = (".toml", ".json")


def data_section(data, image_size: int | None, where_model: str) -> dict:
    """The ``data`` section of an imported run (a dict); images whose side disagrees with the model are refused."""
    if data is None:
        if image_size is None:
            raise ConfigError(f"{where_model}: gives no sample_size; give data = DATA.toml with data.image_size")
        section = {"family": "bump", "image_size": int(image_size)}
        where = "data"
    elif isinstance(data, dict):
        section, where = dict(data.get("data", data)), "data"
    else:
        p = Path(data)
        where = f"data = {str(p)!r}"
        if p.suffix not in SUFFIXES:
            raise ConfigError(f"{where}: give a data section as .toml or .json (e.g. [data] family = \"bump\", "
                              "image_size = 8); arrays of your own images (.npz, Zarr) are not supported yet")
        try:
            text = p.read_text()
            table = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{where}: not a readable {p.suffix[1:].upper()} file ({str(e)[:80]})") from None
        section = dict(table.get("data", table)) if isinstance(table, dict) else None
        if section is None:
            raise ConfigError(f"{where}: holds no data table; e.g. [data] family = \"bump\", image_size = 8")
    if image_size is not None:
        section.setdefault("image_size", int(image_size))
        if section["image_size"] != image_size:
            raise ConfigError(f"{where}: image_size = {section['image_size']} but the model takes {image_size} x "
                              f"{image_size} px images ({where_model}); give data.image_size = {image_size}")
    try:
        validate_section(DataConfig, section, "data")
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    return section
