"""Declarative conditioning adapters: how a condition (x, y) in pixels reaches an imported model.

An adapter is a small TOML table stored in the run config (``model.adapter``),
never code. ``kind`` is one of:

``coordinates``
    two constant input channels appended to the image: channel value =
    ``offset + scale * coordinate`` (px), x first. Keys: ``scale`` (required),
    ``offset`` (0).
``class_labels``
    the model's ``class_labels`` input; ``encoding`` says what it receives:
    ``"lattice_index"`` (an integer site index, ``round((y - origin_y) /
    spacing) * columns + round((x - origin_x) / spacing)``, for a learned
    ``nn.Embedding`` whose weights are in the checkpoint; keys ``columns``
    (required), ``spacing`` (1 px), ``origin`` ([0, 0] px)), ``"sinusoidal"``
    (``dim`` cos/sin features of each coordinate, periods up to
    ``max_period`` px, concatenated: 2 x dim values) or ``"scaled"``
    (``offset + scale * (x, y)``).
``encoder_hidden_states``
    one token of ``sinusoidal`` or ``scaled`` features (as above), shape
    (B, 1, features), for a cross-attention model.
``registered``
    ``name`` of an adapter registered through the entry-point group
    ``manifold_lens.adapters`` (or :func:`manifold_lens.models.register_adapter`),
    with its ``options`` table. A registered adapter is ``factory(options) ->
    forward`` with ``forward(model, x_t, t, cond) -> tensor or diffusers output``.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Callable

import torch

from ..errors import ConfigError
from ..models import get_adapter

KINDS = ("coordinates", "class_labels", "encoder_hidden_states", "registered")
ENCODINGS = {"class_labels": ("lattice_index", "sinusoidal", "scaled"),
             "encoder_hidden_states": ("sinusoidal", "scaled")}
_KEYS = {"coordinates": {"scale": None, "offset": 0.0},
         "lattice_index": {"columns": None, "spacing": 1.0, "origin": [0.0, 0.0]},
         "sinusoidal": {"dim": None, "max_period": 10000.0},
         "scaled": {"scale": None, "offset": 0.0},
         "registered": {"name": None, "options": {}}}
EXAMPLE = 'kind = "coordinates", scale = 0.2857, offset = -1.0'


def read_adapter(path: str | Path) -> dict:
    """An adapter TOML file, checked (ConfigError naming the file and key)."""
    p = Path(path)
    try:
        table = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"adapter = {str(p)!r}: not a readable TOML file ({str(e)[:80]}); e.g. {EXAMPLE}") from None
    return check_adapter(table.get("adapter", table), where=str(p))


def check_adapter(adapter: dict, where: str = "model.adapter") -> dict:
    """The adapter with defaults filled in; a missing, unknown or bad key is a one-line ConfigError."""
    if not isinstance(adapter, dict):
        raise ConfigError(f"{where}: an adapter is a table, e.g. {EXAMPLE}")
    a = dict(adapter)
    kind = a.pop("kind", None)
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind = {kind!r}: must be one of {', '.join(KINDS)} (e.g. {EXAMPLE})")
    out: dict = {"kind": kind}
    variant = kind
    if kind in ENCODINGS:
        enc = a.pop("encoding", None)
        if enc not in ENCODINGS[kind]:
            raise ConfigError(f"{where}: encoding = {enc!r}: {kind} takes one of {', '.join(ENCODINGS[kind])}")
        out["encoding"] = variant = enc
    for key, default in _KEYS[variant].items():
        value = a.pop(key, default)
        if value is None:
            raise ConfigError(f"{where}: {key} is missing: kind = {kind!r}"
                              f"{'' if variant == kind else f', encoding = {variant!r}'} needs it")
        out[key] = value
    if a:
        raise ConfigError(f"{where}: unknown key {sorted(a)[0]!r} for kind = {kind!r}; allowed: "
                          f"{', '.join(['kind', *(['encoding'] if kind in ENCODINGS else []), *_KEYS[variant]])}")
    _check_values(out, where)
    return out


def _check_values(a: dict, where: str) -> None:
    def number(key, positive=False):
        v = a[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0):
            raise ConfigError(f"{where}: {key} = {v!r}: must be a {'positive ' if positive else ''}finite number")

    if "scale" in a:
        number("scale"), number("offset")
    if "spacing" in a:
        number("spacing", True)
        if not (isinstance(a["columns"], int) and a["columns"] > 0):
            raise ConfigError(f"{where}: columns = {a['columns']!r}: must be a positive integer (lattice sites per row)")
        if not (isinstance(a["origin"], list) and len(a["origin"]) == 2):
            raise ConfigError(f"{where}: origin = {a['origin']!r}: must be [x, y] in pixels")
    if "dim" in a:
        number("max_period", True)
        if not (isinstance(a["dim"], int) and a["dim"] >= 2 and a["dim"] % 2 == 0):
            raise ConfigError(f"{where}: dim = {a['dim']!r}: must be an even integer >= 2 (features per coordinate)")
    if a["kind"] == "registered" and not (isinstance(a["name"], str) and isinstance(a["options"], dict)):
        raise ConfigError(f"{where}: name must be a string and options a table")


def sinusoidal(values: torch.Tensor, dim: int, max_period: float) -> torch.Tensor:
    """(B,) -> (B, dim): cos then sin at frequencies exp(-ln(max_period) k / (dim/2)), k < dim/2."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=values.device) / half)
    args = values.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def features(a: dict, cond: torch.Tensor) -> torch.Tensor:
    """What the adapter hands the model for conditions ``cond`` (B, 2) in pixels."""
    cond = cond.float()
    variant = a.get("encoding", a["kind"])
    if variant in ("coordinates", "scaled"):
        return a["offset"] + a["scale"] * cond
    if variant == "sinusoidal":
        return torch.cat([sinusoidal(cond[:, 0], a["dim"], a["max_period"]),
                          sinusoidal(cond[:, 1], a["dim"], a["max_period"])], dim=-1)
    col = torch.round((cond[:, 0] - a["origin"][0]) / a["spacing"])
    row = torch.round((cond[:, 1] - a["origin"][1]) / a["spacing"])
    return (row * a["columns"] + col).long()


def adapter_forward(a: dict) -> Callable:
    """``forward(model, x_t, t, cond)``: the adapter's call of a diffusers model (returns what the model returns)."""
    kind = a["kind"]
    if kind == "registered":
        return get_adapter(a["name"])(dict(a["options"]))

    def forward(model, x_t, t, cond):
        f = features(a, cond)
        if kind == "coordinates":
            channels = f.to(x_t.dtype)[:, :, None, None].expand(-1, -1, *x_t.shape[2:])
            return model(torch.cat([x_t, channels], dim=1), t)
        if kind == "class_labels":
            return model(x_t, t, class_labels=f if f.dtype == torch.long else f.to(x_t.dtype))
        return model(x_t, t, encoder_hidden_states=f.to(x_t.dtype)[:, None, :])

    return forward
