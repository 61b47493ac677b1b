"""Experiment configuration: one dataclass per component, TOML in, JSON out.

A run is fully described by a :class:`RunConfig` with four sections, ``data``,
``model``, ``diffusion`` and ``train``. Presets are TOML files shipped in
``manifold_lens.data.presets``; ``--set key=value`` overrides are dotted keys
with typed values. :meth:`RunConfig.validate` checks every value before any
work is done and raises :class:`~manifold_lens.errors.ConfigError` with one
line naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError

FAMILIES = ("bump", "periodic", "sos", "stripes", "mixture")
HOLDOUT_KINDS = ("none", "band_x", "band_y", "cross", "interior", "exterior", "donut", "list")


@dataclass
class HoldoutConfig:
    """Which in-frame conditions are held out of training (the test sets).

    kind: none | band_x | band_y | cross | interior | exterior | donut | list.
    x_range, y_range: inclusive [lo, hi] in pixels for bands and the cross;
        when empty, a band of ``width`` centred in the frame is used.
    width: band width or square side W (px).
    position: where the exterior square sits: "corner" or "edge".
    ring: thickness (px) of the square donut around its held-out centre; the
        conditions beyond the donut are not trained either.
    points: explicit [[x, y], ...] list for kind = "list".
    """

    kind: str = "none"
    x_range: list[float] = field(default_factory=list)
    y_range: list[float] = field(default_factory=list)
    width: float = 0.0
    position: str = "corner"
    ring: float = 4.0
    points: list[list[float]] = field(default_factory=list)


@dataclass
class DataConfig:
    """The synthetic dataset (SCIENCE.md section 1). Lengths are in pixels.

    family: bump | periodic | sos | stripes | mixture.
    image_size: N, the frame is N x N pixels (must be a multiple of 8, >= 8).
    sigma: bump / stripe width; sigma_x, sigma_y override it per axis.
    spacing: lattice spacing of the centres; spacing_x, spacing_y per axis.
    margin: extra canvas on each side of the frame for ``stripes`` (the study
        used 6 px around 32 px).
    rim: width (px) of the band just outside the frame whose stripe examples
        leave a faint second stripe inside it (the "rim").
    include_rim: keep rim examples in the stripes training set.
    keep_fraction: lambda, the fraction of training lattice sites kept.
    keep_fractions: per-family overrides of keep_fraction for mixtures.
    mix: for ``mixture``, family -> proportion of training draws.
    seed: seed of the subsampling (independent of the training seed).
    """

    family: str = "bump"
    image_size: int = 32
    sigma: float = 1.0
    sigma_x: float | None = None
    sigma_y: float | None = None
    spacing: float = 1.0
    spacing_x: float | None = None
    spacing_y: float | None = None
    margin: int = 6
    rim: float = 2.0
    include_rim: bool = True
    keep_fraction: float = 1.0
    keep_fractions: dict[str, float] = field(default_factory=dict)
    mix: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    holdout: HoldoutConfig = field(default_factory=HoldoutConfig)


@dataclass
class ModelConfig:
    """The conditional UNet (SCIENCE.md section 2).

    name: registered model name (entry point group ``manifold_lens.models``).
    base_channels: width of the first stage; stage i has base * channel_mult[i].
    channel_mult: three multipliers, one per down/up stage.
    num_res_blocks: residual blocks per stage.
    attention_resolutions: feature-map sizes (px) with self-attention; the
        bottleneck always has it.
    embed_dim: width of the combined (t, x, y) embedding fed to every block.
    freq_dim: number of sinusoidal features per encoded scalar (t, x, y).
    coord_max_period: longest period (px) of the x / y sinusoidal encodings.
    groups: GroupNorm groups.
    """

    name: str = "unet"
    base_channels: int = 64
    channel_mult: list[int] = field(default_factory=lambda: [1, 2, 2])
    num_res_blocks: int = 1
    attention_resolutions: list[int] = field(default_factory=lambda: [8])
    embed_dim: int = 256
    freq_dim: int = 64
    coord_max_period: float = 200.0
    groups: int = 8


@dataclass
class DiffusionConfig:
    """Forward process: linear betas from beta_start to beta_end over T steps."""

    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    schedule: str = "linear"
    prediction: str = "epsilon"


@dataclass
class TrainConfig:
    """Optimisation and checkpointing.

    steps: optimiser steps in total (resume may raise it).
    checkpoint_every: regular checkpoint interval; 0 = steps // 10.
    early_checkpoints: log-spaced checkpoints before the first regular one.
    ema_decay: exponential moving average of the weights; 0 disables it.
    grad_clip: max global gradient norm; 0 disables clipping.
    warmup_steps: linear learning-rate warm-up (independent of ``steps`` so
        that resuming to more steps reproduces an uninterrupted run).
    device: auto | cpu | cuda.
    channels_last: use the channels-last memory format (faster convolutions).
    """

    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    checkpoint_every: int = 0
    early_checkpoints: int = 8
    log_every: int = 10
    device: str = "auto"
    channels_last: bool = True


@dataclass
class RunConfig:
    """Everything that determines a training run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # -- construction -----------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        """Build from nested dicts; unknown keys and wrong types raise ConfigError."""
        return _build(cls, d, "")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls.from_dict(json.loads(text))

    def with_overrides(self, overrides: list[str] | dict[str, Any]) -> "RunConfig":
        """Apply ``key=value`` strings (or a flat dotted dict) and return a new config."""
        d = self.to_dict()
        items = overrides.items() if isinstance(overrides, dict) else [_split_override(o) for o in overrides]
        for key, value in items:
            _set_dotted(d, key, value)
        return RunConfig.from_dict(d)

    def resolved(self) -> "RunConfig":
        """Fill per-axis values (sigma_x, spacing_y, ...) and automatic intervals."""
        c = RunConfig.from_dict(self.to_dict())
        dc = c.data
        dc.sigma_x = dc.sigma if dc.sigma_x is None else dc.sigma_x
        dc.sigma_y = dc.sigma if dc.sigma_y is None else dc.sigma_y
        dc.spacing_x = dc.spacing if dc.spacing_x is None else dc.spacing_x
        dc.spacing_y = dc.spacing if dc.spacing_y is None else dc.spacing_y
        if c.train.checkpoint_every == 0:
            c.train.checkpoint_every = max(1, c.train.steps // 10)
        return c

    # -- validation -------------------------------------------------------
    def validate(self) -> "RunConfig":
        """Check every value; raise ConfigError naming the first bad key."""
        d, m, df, t = self.data, self.model, self.diffusion, self.train
        _choice("data.family", d.family, FAMILIES)
        n = d.image_size
        if n < 8 or n % 8:
            raise ConfigError(
                f"data.image_size = {n}: the UNet downsamples three times, so it must be a multiple of 8 and >= 8 (e.g. 8, 16, 32)"
            )
        for key in ("sigma", "sigma_x", "sigma_y", "spacing", "spacing_x", "spacing_y"):
            v = getattr(d, key)
            if v is not None and not v > 0:
                raise ConfigError(f"data.{key} = {v}: must be > 0 (pixels)")
        _fraction("data.keep_fraction", d.keep_fraction)
        for fam, v in d.keep_fractions.items():
            _choice("data.keep_fractions key", fam, FAMILIES[:-1])
            _fraction(f"data.keep_fractions.{fam}", v)
        if d.margin < 0:
            raise ConfigError(f"data.margin = {d.margin}: must be >= 0 pixels")
        if d.rim < 0:
            raise ConfigError(f"data.rim = {d.rim}: must be >= 0 pixels")
        if d.family == "stripes" and d.margin < 1:
            raise ConfigError("data.margin = 0: the stripes family needs a canvas margin >= 1 px outside the frame")
        if d.family == "mixture":
            if not d.mix:
                raise ConfigError("data.mix is empty: a mixture needs proportions, e.g. data.mix = {bump = 0.5, stripes = 0.5}")
            for fam, w in d.mix.items():
                _choice("data.mix key", fam, FAMILIES[:-1])
                if not w > 0:
                    raise ConfigError(f"data.mix.{fam} = {w}: proportions must be > 0")
            in_frame = [f for f in d.mix if f != "stripes"]
            if len(in_frame) > 1:
                raise ConfigError(
                    f"data.mix: families {in_frame} would all render the same in-frame conditions differently; "
                    "mix at most one of bump/periodic/sos with stripes"
                )
            if "stripes" in d.mix and d.margin < 1:
                raise ConfigError("data.margin = 0: a mixture with stripes needs a canvas margin >= 1 px")
        h = d.holdout
        _choice("data.holdout.kind", h.kind, HOLDOUT_KINDS)
        _choice("data.holdout.position", h.position, ("corner", "edge"))
        for key in ("x_range", "y_range"):
            r = getattr(h, key)
            if r and (len(r) != 2 or r[0] > r[1]):
                raise ConfigError(f"data.holdout.{key} = {r}: must be [lo, hi] with lo <= hi (pixels, inclusive)")
        if h.width < 0 or h.ring < 0:
            raise ConfigError("data.holdout.width and data.holdout.ring must be >= 0 pixels")
        if h.kind in ("band_x", "band_y", "cross") and h.width <= 0 and not (h.x_range or h.y_range):
            raise ConfigError(f"data.holdout.kind = {h.kind!r} needs data.holdout.width > 0 or data.holdout.x_range / y_range")
        if h.kind in ("interior", "exterior", "donut") and h.width <= 0:
            raise ConfigError(f"data.holdout.kind = {h.kind!r} needs data.holdout.width > 0 (the side W of the square, px)")
        if h.kind in ("interior", "exterior") and h.width > n:
            raise ConfigError(f"data.holdout.width = {h.width}: larger than the {n} px frame")
        if h.kind == "donut" and h.width + 2 * h.ring > n:
            raise ConfigError(
                f"data.holdout: the donut (width {h.width} + 2 x ring {h.ring}) is larger than the {n} px frame"
            )
        if h.kind == "list":
            if not h.points or any(len(p) != 2 for p in h.points):
                raise ConfigError("data.holdout.points must be a non-empty list of [x, y] pairs for kind = 'list'")
        # model
        if m.base_channels < 1:
            raise ConfigError(f"model.base_channels = {m.base_channels}: must be >= 1")
        if len(m.channel_mult) != 3 or any(c < 1 for c in m.channel_mult):
            raise ConfigError(f"model.channel_mult = {m.channel_mult}: needs three positive multipliers, one per stage")
        if m.groups < 1 or any((m.base_channels * c) % m.groups for c in m.channel_mult):
            raise ConfigError(
                f"model.groups = {m.groups}: every stage width (base_channels x channel_mult) must be divisible by it"
            )
        if m.num_res_blocks < 1:
            raise ConfigError("model.num_res_blocks must be >= 1")
        if m.embed_dim < 1 or m.freq_dim < 2 or m.freq_dim % 2:
            raise ConfigError("model.embed_dim must be >= 1 and model.freq_dim an even number >= 2")
        if not m.coord_max_period > 0:
            raise ConfigError("model.coord_max_period must be > 0 (pixels)")
        # diffusion
        if df.timesteps < 2:
            raise ConfigError(f"diffusion.timesteps = {df.timesteps}: must be >= 2")
        if not (0 < df.beta_start < df.beta_end < 1):
            raise ConfigError("diffusion.beta_start and beta_end must satisfy 0 < beta_start < beta_end < 1")
        _choice("diffusion.schedule", df.schedule, ("linear",))
        _choice("diffusion.prediction", df.prediction, ("epsilon",))
        # train
        for key in ("steps", "batch_size", "log_every"):
            if getattr(t, key) < 1:
                raise ConfigError(f"train.{key} = {getattr(t, key)}: must be >= 1")
        for key in ("checkpoint_every", "early_checkpoints", "warmup_steps"):
            if getattr(t, key) < 0:
                raise ConfigError(f"train.{key} = {getattr(t, key)}: must be >= 0")
        if not t.lr > 0:
            raise ConfigError(f"train.lr = {t.lr}: must be > 0")
        if not (0 <= t.ema_decay < 1):
            raise ConfigError(f"train.ema_decay = {t.ema_decay}: must be in [0, 1) (0 disables EMA)")
        if t.grad_clip < 0 or t.weight_decay < 0:
            raise ConfigError("train.grad_clip and train.weight_decay must be >= 0")
        _choice("train.device", t.device, ("auto", "cpu", "cuda"))
        return self


# -- presets and files -----------------------------------------------------

def presets_dir():
    """The folder of shipped TOML presets (works from an installed wheel)."""
    return resources.files("manifold_lens.data") / "presets"


def list_presets() -> list[str]:
    return sorted(p.name[:-5] for p in presets_dir().iterdir() if p.name.endswith(".toml"))


def load_preset(name: str) -> RunConfig:
    path = presets_dir() / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(list_presets())}")
    return _from_toml_text(path.read_text(), f"preset {name!r}")


def load_config_file(path: str | Path) -> RunConfig:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config {p}: no such file")
    if p.suffix == ".json":
        return RunConfig.from_dict(json.loads(p.read_text()))
    return _from_toml_text(p.read_text(), str(p))


def load_config(preset: str | None = None, config: str | Path | None = None,
                overrides: list[str] | None = None) -> RunConfig:
    """Resolve preset or file plus overrides into a validated RunConfig."""
    if preset and config:
        raise ConfigError("give either --preset or --config, not both")
    if config:
        cfg = load_config_file(config)
    else:
        cfg = load_preset(preset or "quick")
    if overrides:
        cfg = cfg.with_overrides(overrides)
    return cfg.validate().resolved()


def _from_toml_text(text: str, where: str) -> RunConfig:
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML ({e})") from None
    d.pop("description", None)
    return RunConfig.from_dict(d)


def valid_keys(section: str = "") -> list[str]:
    """All dotted keys of a section ('' for the top level), for messages and docs."""
    cls: Any = RunConfig
    for part in [p for p in section.split(".") if p]:
        cls = _field_type(cls, part)
    return [f.name for f in dataclasses.fields(cls)]


# -- generic dataclass building with type coercion --------------------------

def _split_override(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.steps=500")
    key, raw = item.split("=", 1)
    key = key.strip()
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # bare strings: --set data.family=sos
    return key, value


def _set_dotted(d: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    section = ""
    node = d
    cls: Any = RunConfig
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(cls):
            raise ConfigError(f"unknown key {key!r}: {section} is not a section")
        names = [f.name for f in dataclasses.fields(cls)]
        if part not in names:
            where = f"section [{section}]" if section else "the top level"
            raise ConfigError(f"unknown key {key!r}: valid keys in {where} are {', '.join(names)}")
        if i == len(parts) - 1:
            node[part] = value
            return
        cls = _field_type(cls, part)
        if typing.get_origin(cls) is dict:  # e.g. data.mix.bump = 0.5
            node.setdefault(part, {})[".".join(parts[i + 1:])] = value
            return
        node = node.setdefault(part, {})
        section = ".".join(parts[: i + 1])


def _field_type(cls: Any, name: str) -> Any:
    hints = typing.get_type_hints(cls)
    return hints[name]


def _build(cls: Any, d: Any, prefix: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix or 'config'} must be a table of keys, got {d!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in d.items():
        if key not in names:
            where = f"section [{prefix}]" if prefix else "the top level"
            full = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"unknown key {full!r}: valid keys in {where} are {', '.join(names)}")
        kwargs[key] = _coerce(hints[key], value, f"{prefix}.{key}" if prefix else key)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key} = {value!r}: expected true or false")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"{key} = {value!r}: expected an integer")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} = {value!r}: expected a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} = {value!r}: expected a string")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} = {value!r}: expected a list, e.g. [1, 2]")
        return [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} = {value!r}: expected a table, e.g. {{bump = 0.5, stripes = 0.5}}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    return value


def _choice(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} = {value!r}: must be one of {', '.join(map(str, allowed))}")


def _fraction(key: str, value: float) -> None:
    if not (0 < value <= 1):
        raise ConfigError(f"{key} = {value}: must be in (0, 1], the fraction of lattice sites kept")
