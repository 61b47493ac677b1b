"""Stage settings: one frozen dataclass per stage owns its defaults, checks, result attrs and resume equality.

Each stage that computes results (evaluation, extraction/measure, percolation,
the percolation test) declares its parameters once, as fields made with
:func:`setting`. From that one declaration:

- the library function's defaults (``Settings.default("tolerance")``),
- the checks (:meth:`StageSettings.check`, raising :class:`ConfigError` that
  names the *parameter*, never a CLI flag),
- the attributes written beside the results (:meth:`StageSettings.attrs`),
- the equality used to resume a results group (:meth:`StageSettings.differs`),
- the CLI's options and help (``cli`` reads :meth:`StageSettings.default` and
  :meth:`StageSettings.help`), and a study's ``[stage]`` keys
  (:meth:`StageSettings.from_mapping`)

all follow, so no default is written twice.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from .errors import ConfigError

S = TypeVar("S", bound="StageSettings")


def setting(default: Any, help: str, *, units: str = "", resume: bool = True):
    """A stage parameter: its default, one line of help, its units, and whether a resumed group must match it.

    Mutable defaults (lists, dicts) are copied per instance.
    """
    meta = {"help": help, "units": units, "resume": resume}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


@dataclasses.dataclass(frozen=True)
class StageSettings:
    """Base class: subclasses are frozen dataclasses whose fields are made with :func:`setting`."""

    stage: ClassVar[str] = ""

    # -- the declaration ------------------------------------------------------------------------
    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameters, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def _field(cls, name: str) -> dataclasses.Field:
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f
        raise KeyError(f"{cls.__name__} has no setting {name!r}")

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of one parameter (a fresh copy for lists and dicts)."""
        f = cls._field(name)
        return f.default_factory() if f.default is dataclasses.MISSING else f.default

    @classmethod
    def help(cls, name: str) -> str:
        """One line of help for a parameter, with its units when it has any."""
        f = cls._field(name)
        text, units = f.metadata.get("help", ""), f.metadata.get("units", "")
        return text + (f" ({units})" if units and units not in text else "")

    @classmethod
    def units(cls, name: str) -> str:
        return cls._field(name).metadata.get("units", "")

    @classmethod
    def from_mapping(cls: type[S], values: Mapping[str, Any], *, where: str | None = None, **context) -> S:
        """Checked settings from a mapping (a study's ``[stage]`` table, a function's kwargs).

        An unknown key is a :class:`ConfigError` listing the valid ones; ``where``
        (e.g. ``"[evaluate]"``) prefixes every message.
        """
        unknown = [k for k in values if k not in cls.names()]
        prefix = f"{where} " if where else ""
        if unknown:
            raise ConfigError(f"{prefix}unknown key {unknown[0]!r}: valid keys are {', '.join(cls.names())}")
        try:
            return cls(**dict(values)).check(**context)
        except ConfigError as e:
            raise ConfigError(f"{prefix}{e}") from None

    # -- per instance ---------------------------------------------------------------------------
    def check(self: S, **context) -> S:
        """The settings, checked (and completed from ``context``, e.g. a noise schedule); subclasses extend."""
        return self

    def replace(self: S, **changes) -> S:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def attrs(self) -> dict[str, Any]:
        """JSON-safe attributes recorded beside the stage's results (booleans as 0/1 for netCDF-style attrs)."""
        out = {}
        for k, v in self.as_dict().items():
            v = _jsonable(v)
            if isinstance(v, bool):
                v = int(v)
            elif v is None:
                v = "none"
            elif isinstance(v, (list, dict)):
                v = json.dumps(v)
            out[k] = v
        return out

    def resume_key(self) -> dict[str, Any]:
        """The parameters a resumed results group must share with these settings (as in :meth:`attrs`)."""
        attrs = self.attrs()
        return {f.name: attrs[f.name] for f in dataclasses.fields(self) if f.metadata.get("resume", True)}

    def differs(self, stored: Mapping[str, Any]) -> list[str]:
        """The resume parameters whose value in ``stored`` (a group's attrs) differs from these settings."""
        out = []
        for k, v in self.resume_key().items():
            if k in stored and _jsonable(stored[k]) != v:
                out.append(f"{k} = {stored[k]!r} stored, {v!r} now")
        return out
