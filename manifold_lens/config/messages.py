"""Config errors in one line: a pydantic ValidationError becomes a ConfigError naming the key and what is allowed."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError


_MESSAGES = {  # pydantic error type -> our wording (others keep pydantic's message)
    "greater_than": "must be > {gt}", "greater_than_equal": "must be >= {ge}", "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}", "literal_error": "must be one of {expected}",
    **dict.fromkeys(("int_parsing", "int_type", "int_from_float"), "expected an integer"),
    "int_parsing_size": "too large an integer",
    **dict.fromkeys(("float_parsing", "float_type"), "expected a number"),
    **dict.fromkeys(("bool_parsing", "bool_type"), "expected true or false"), "string_type": "expected a string",
    "list_type": "expected a list, e.g. [1, 2]", "dict_type": "expected a table, e.g. {bump = 0.5, stripes = 0.5}",
    "model_type": "expected a table of keys", "finite_number": "must be a finite number (not nan or inf)",
}


def validate_section(schema: type[BaseModel], values: Any, section: str = "") -> Any:
    """``schema.model_validate(values)``, with a failure turned into one ConfigError line naming the key.

    ``section`` prefixes the keys in messages (e.g. "model" for a model's parameters).
    """
    try:
        return schema.model_validate(values)
    except ValidationError as err:
        raise _config_error(err, schema, section) from None


def _config_error(err: ValidationError, schema: type[BaseModel], section: str) -> ConfigError:
    errors = err.errors(include_url=False)
    e = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])  # an unknown key explains the most
    loc = [str(p) for p in e["loc"] if p != "[key]"]
    key = ".".join([section] * bool(section) + loc)
    if e["type"] == "value_error":  # our own checks word their whole message
        return ConfigError(str(e["ctx"]["error"]))
    if e["type"] == "extra_forbidden":
        parent = ".".join([section] * bool(section) + loc[:-1])
        where = f"section [{parent}]" if parent else "the top level"
        valid = ", ".join(section_fields(schema, loc[:-1]))
        return ConfigError(f"unknown key {key!r}: valid keys in {where} are {valid}")
    ctx = {k: (", ".join(re.findall(r"'([^']*)'", v) or [v]) if k == "expected" else
               f"{v:g}" if isinstance(v, (int, float)) else v) for k, v in (e.get("ctx") or {}).items()}
    text = _MESSAGES.get(e["type"], e["msg"]).format(**ctx) if e["type"] in _MESSAGES else e["msg"]
    hint = _hint(schema, loc)
    value = e.get("input")
    shown = repr(value) if isinstance(value, str) else value
    return ConfigError(f"{key} = {shown}: {text}" + (f" ({hint})" if hint else ""))


def _walk(schema: Any, loc: list[str]) -> Any:
    """The schema class at ``loc`` (a section path), or None past a leaf."""
    for part in loc:
        if not hasattr(schema, "model_fields") and getattr(schema, "__args__", None):  # list[X] / dict[str, X]: X
            schema = schema.__args__[-1]
            continue
        field = getattr(schema, "model_fields", {}).get(part)
        schema = field.annotation if field is not None else None
    return schema


def section_fields(schema: Any, loc: list[str]) -> list[str]:
    """The keys of the section of ``schema`` at ``loc`` (a section path)."""
    return list(getattr(_walk(schema, loc), "model_fields", {}))


def _hint(schema: Any, loc: list[str]) -> str:
    field = getattr(_walk(schema, loc[:-1]), "model_fields", {}).get(loc[-1]) if loc else None
    return getattr(field, "description", None) or ""
