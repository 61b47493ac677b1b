"""``key=value`` overrides of a config: dotted keys, values parsed as TOML (``train.steps=500`` is an integer)."""

from __future__ import annotations

import tomllib
from typing import Any

from ..errors import ConfigError


def split_override(item: str) -> tuple[str, Any]:
    """``"key=value"`` -> (key, value), the value parsed as TOML (bare words are strings)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected key=value, e.g. train.steps=500")
    key, raw = (s.strip() for s in item.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # bare strings: --set data.family=sos
    return key, value


def set_dotted(d: dict, key: str, value: Any) -> None:
    """Set ``d[a][b][c] = value`` for key "a.b.c" (``data.mix.bump`` sets one entry of a table).

    Unknown keys are refused when the config is built from ``d``, with the
    valid keys of their section.
    """
    *path, last = key.split(".")
    node = d
    for i, part in enumerate(path):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"unknown key {key!r}: {'.'.join(path[:i + 1])} is a value, not a section")
    node[last] = value
