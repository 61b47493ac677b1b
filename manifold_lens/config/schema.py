"""The run config's schema: pydantic sections ``data``, ``model``, ``diffusion``, ``train`` and :class:`RunConfig`.

Every section is a pydantic model: building one checks every value (types,
ranges, choices, and the rules that tie keys together); a bad value is a
one-line :class:`~manifold_lens.errors.ConfigError` naming the key
(:mod:`manifold_lens.config.messages`). The ``model`` section's parameters
are checked by the model's own factory in :meth:`RunConfig.checked`, because
only the model knows them.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import ConfigError
from ..models import validate_model_params
from .messages import validate_section
from .overrides import set_dotted, split_override
from .scheduler import diffusers_key, fields_from_diffusers, fields_to_diffusers

Family = Literal["bump", "periodic", "sos", "stripes", "mixture"]
RenderedFamily = Literal["bump", "periodic", "sos", "stripes"]
HoldoutKind = Literal["none", "band_x", "band_y", "cross", "interior", "exterior", "donut", "list"]
FAMILIES = get_args(Family)
HOLDOUT_KINDS = get_args(HoldoutKind)
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")

PX = "pixels"


SEED_MAX = 2**63 - 1  # seeds are 64-bit: torch and numpy take any non-negative value below 2^63


class Section(BaseModel):
    """A config section: unknown keys are errors, every number must be finite (no nan or inf), values are
    checked when the section is built."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class HoldoutConfig(Section):
    """Which in-frame conditions are held out of training (the test sets); lengths in pixels."""

    kind: HoldoutKind = "none"
    x_range: list[float] = []  # inclusive [lo, hi] of a band or the cross; empty: ``width`` centred in the frame
    y_range: list[float] = []
    width: float = Field(0.0, ge=0, description=PX)  # band width or square side W
    position: Literal["corner", "edge"] = "corner"  # where the exterior square sits
    ring: float = Field(4.0, ge=0, description=PX)  # donut thickness around its held-out centre (beyond: untrained)
    points: list[list[float]] = []  # explicit [[x, y], ...] for kind = "list"

    @field_validator("x_range", "y_range")
    @classmethod
    def _range(cls, r: list[float], info) -> list[float]:
        if r and (len(r) != 2 or r[0] > r[1]):
            raise ValueError(f"data.holdout.{info.field_name} = {r}: must be [lo, hi] with lo <= hi "
                             "(pixels, inclusive)")
        return r

    @model_validator(mode="after")
    def _needs(self) -> "HoldoutConfig":
        k = self.kind
        if k in ("band_x", "band_y", "cross") and self.width <= 0 and not (self.x_range or self.y_range):
            raise ValueError(f"data.holdout.kind = {k!r} needs data.holdout.width > 0 or "
                             "data.holdout.x_range / y_range")
        if k in ("interior", "exterior", "donut") and self.width <= 0:
            raise ValueError(f"data.holdout.kind = {k!r} needs data.holdout.width > 0 (the side W of the square, px)")
        if k == "list" and (not self.points or any(len(p) != 2 for p in self.points)):
            raise ValueError("data.holdout.points must be a non-empty list of [x, y] pairs for kind = 'list'")
        return self


class DataConfig(Section):
    """The synthetic dataset (docs/science.md, section 1). Lengths are in pixels."""

    family: Family = "bump"
    image_size: int = Field(32, ge=2, description=PX)  # N: an N x N frame (the model may ask for more)
    sigma: float = Field(1.0, gt=0, description=PX)  # bump / stripe width; sigma_x, sigma_y per axis
    sigma_x: float | None = Field(None, gt=0, description=PX)
    sigma_y: float | None = Field(None, gt=0, description=PX)
    spacing: float = Field(1.0, gt=0, description=PX)  # lattice spacing of the centres; spacing_x, _y per axis
    spacing_x: float | None = Field(None, gt=0, description=PX)
    spacing_y: float | None = Field(None, gt=0, description=PX)
    margin: int = Field(6, ge=0, description=PX)  # stripes: canvas beyond the frame (the study: 6 around 32)
    rim: float = Field(2.0, ge=0, description=PX)  # width of the rim (see rim_kind)
    # the rim of a stripes canvas: "outside", stripes centred within `rim` px beyond the frame (a faint second
    # stripe shows inside it); "edge", the 2D examples within `rim` px of the frame's border
    rim_kind: Literal["outside", "edge"] = "outside"
    include_rim: bool = True  # keep rim examples in the stripes training set
    keep_fraction: float = 1.0  # lambda: the fraction of trainable lattice sites kept
    keep_fractions: dict[RenderedFamily, float] = {}  # per-family keep_fraction of a mixture
    mix: dict[RenderedFamily, float] = {}  # mixture: family -> proportion of training draws
    seed: int = Field(0, ge=0, le=SEED_MAX, description="a non-negative integer below 2^63")  # of subsampling
    holdout: HoldoutConfig = HoldoutConfig()

    @model_validator(mode="after")
    def _consistent(self) -> "DataConfig":
        n, h = self.image_size, self.holdout
        for key, v in [("keep_fraction", self.keep_fraction),
                       *((f"keep_fractions.{f}", v) for f, v in self.keep_fractions.items())]:
            if not 0 < v <= 1:
                raise ValueError(f"data.{key} = {v}: must be in (0, 1], the fraction of lattice sites kept")
        if self.rim_kind == "edge" and not 0 < self.rim < n / 2:
            raise ValueError(f"data.rim = {self.rim}: with data.rim_kind = 'edge' the rim is the 2D examples within "
                             f"rim px of the frame's border; give 0 < rim < {n / 2:g} (half the frame)")
        if self.family == "stripes" and self.margin < 1:
            raise ValueError("data.margin = 0: the stripes family needs a canvas margin >= 1 px outside the frame")
        if self.family == "mixture":
            if not self.mix:
                raise ValueError("data.mix is empty: a mixture needs proportions, e.g. "
                                 "data.mix = {bump = 0.5, stripes = 0.5}")
            for fam, w in self.mix.items():
                if not w > 0:
                    raise ValueError(f"data.mix.{fam} = {w}: proportions must be > 0")
            in_frame = [f for f in self.mix if f != "stripes"]
            if len(in_frame) > 1:
                raise ValueError(f"data.mix: families {in_frame} would all render the same in-frame conditions "
                                 "differently; mix at most one of bump/periodic/sos with stripes")
            if "stripes" in self.mix and self.margin < 1:
                raise ValueError("data.margin = 0: a mixture with stripes needs a canvas margin >= 1 px")
        if h.kind in ("interior", "exterior") and h.width > n:
            raise ValueError(f"data.holdout.width = {h.width}: larger than the {n} px frame")
        if h.kind == "donut" and h.width + 2 * h.ring > n:
            raise ValueError(f"data.holdout: the donut (width {h.width} + 2 x ring {h.ring}) is larger than the "
                             f"{n} px frame")
        return self

    def resolved(self) -> "DataConfig":
        """A copy with the per-axis widths and spacings (sigma_x, spacing_y, ...) filled in."""
        c = self.model_copy(deep=True)
        c.sigma_x = c.sigma if c.sigma_x is None else c.sigma_x
        c.sigma_y = c.sigma if c.sigma_y is None else c.sigma_y
        c.spacing_x = c.spacing if c.spacing_x is None else c.spacing_x
        c.spacing_y = c.spacing if c.spacing_y is None else c.spacing_y
        return c


class ModelConfig(BaseModel):
    """The model: its registered ``name`` plus the parameters its factory accepts (checked by the factory).

    The bundled UNet's parameters are listed in ``trainers/unet.py``
    (``UNetConfig``); read them as attributes, e.g. ``config.model.base_channels``.
    """

    model_config = ConfigDict(extra="allow")

    name: str = "unet"

    @property
    def params(self) -> dict[str, Any]:
        """The model's parameters: the section without ``name``."""
        return dict(self.model_extra or {})


class DiffusionConfig(Section):
    """Forward process and the model's output, as diffusers' DDPMScheduler / DDIMScheduler configs say them.

    Betas over T steps: ``linear`` from beta_start to beta_end, ``scaled_linear``
    (linear in sqrt(beta)) or ``squaredcos_cap_v2`` (the cosine schedule,
    beta_start / beta_end unused). The model predicts ``epsilon`` (the noise),
    ``v_prediction`` (v = sqrt(abar) eps - sqrt(1 - abar) x0) or ``sample`` (x0).
    The rest tells the samplers what diffusers' would do: clip x0 to
    [-clip_sample_range, clip_sample_range], DDIM's timesteps (``linspace``:
    round(linspace(0, T-1, steps)); ``leading``: k T//steps + steps_offset;
    ``trailing``: round(T - k T/steps) - 1), DDIM's final abar (1, or abar_0
    without set_alpha_to_one) and DDPM's variance (beta-tilde or beta).
    The defaults are the toolkit's own runs (docs/science.md, section 2).
    """

    timesteps: int = Field(1000, ge=2)
    beta_start: float = Field(1e-4, gt=0, lt=1)
    beta_end: float = Field(0.02, gt=0, lt=1)
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = "linear"
    prediction_type: Literal["epsilon", "v_prediction", "sample"] = "epsilon"
    clip_sample: bool = True  # clip the predicted x0 at every sampler step
    clip_sample_range: float = Field(1.0, gt=0, description="pixel value")
    timestep_spacing: Literal["linspace", "leading", "trailing"] = "linspace"  # DDIM's timesteps
    steps_offset: int = Field(0, ge=0)  # added to the "leading" timesteps
    set_alpha_to_one: bool = True  # DDIM's last step ends at abar = 1 (else at abar_0)
    variance_type: Literal["fixed_small", "fixed_large"] = "fixed_small"  # DDPM: beta-tilde or beta

    @model_validator(mode="before")
    @classmethod
    def _former_names(cls, values: Any) -> Any:
        """Stores written before diffusers' names hold ``schedule`` and ``prediction`` (always linear, epsilon)."""
        if isinstance(values, dict):
            values = dict(values)
            for old, new in (("schedule", "beta_schedule"), ("prediction", "prediction_type")):
                if old in values:
                    value = values.pop(old)
                    if values.setdefault(new, value) != value:
                        raise ValueError(f"diffusion.{old} = {value!r} and diffusion.{new} = {values[new]!r}: "
                                         f"{old} is the former name of {new}; give only {new}")
        return values

    @model_validator(mode="after")
    def _order(self) -> "DiffusionConfig":
        if self.beta_schedule != "squaredcos_cap_v2" and not self.beta_start < self.beta_end:
            raise ValueError("diffusion.beta_start and beta_end must satisfy 0 < beta_start < beta_end < 1")
        return self

    @classmethod
    def from_diffusers(cls, scheduler_config: Any) -> "DiffusionConfig":
        """The section from a diffusers ``scheduler_config.json`` (as a dict); missing keys take diffusers' defaults.

        Unknown keys are ignored; an unsupported value (``trained_betas``, a
        ``sigmoid`` beta_schedule, a learned variance, ...) is a one-line
        ConfigError naming the key (:mod:`~manifold_lens.config.scheduler`).
        """
        fields = fields_from_diffusers(scheduler_config)
        try:
            return validate_section(cls, fields)
        except ConfigError as e:
            text = str(e)
            for key in fields:
                if text.startswith(f"{key} = ") or text.startswith(f"diffusion.{key} "):
                    text = text.replace(key, diffusers_key(key), 1)
                    break
            raise ConfigError(f"scheduler config: {text.replace('diffusion.', '')}") from None

    def to_diffusers(self) -> dict[str, Any]:
        """A ``scheduler_config.json`` (dict) for diffusers' DDPMScheduler that samples as this section says."""
        return fields_to_diffusers(self.model_dump())

    def describe(self) -> str:
        """One line: T, the betas and the prediction, e.g. "T = 1000, linear betas 0.0001..0.02, epsilon"."""
        betas = (f"{self.beta_schedule} betas" if self.beta_schedule == "squaredcos_cap_v2"
                 else f"{self.beta_schedule} betas {self.beta_start:g}..{self.beta_end:g}")
        return f"T = {self.timesteps}, {betas}, {self.prediction_type} prediction"


class TrainConfig(Section):
    """Optimisation (AdamW with linear warm-up, EMA of the weights) and checkpointing."""

    steps: int = Field(2000, ge=1)  # optimiser steps in total (resume may raise it)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(100, ge=0)  # independent of steps, so resuming to more reproduces a longer run
    grad_clip: float = Field(1.0, ge=0, description="0 disables clipping")  # max global gradient norm
    ema_decay: float = Field(0.999, ge=0, lt=1, description="0 disables EMA")
    # initial weights, batches, timesteps and noise (the batch generator is seeded with seed + 1)
    seed: int = Field(0, ge=0, le=SEED_MAX - 1, description="a non-negative integer below 2^63")
    checkpoint_every: int = Field(0, ge=0)  # regular interval; 0 = steps // 10
    early_checkpoints: int = Field(8, ge=0, le=1000)  # log-spaced ones before the first regular one
    log_every: int = Field(10, ge=1)
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    channels_last: bool = True  # channels-last memory format (faster convolutions)
    trainer: str = "ddpm"  # the registered training loop (entry-point group manifold_lens.trainers)
    # stop once the accuracy on the training conditions reaches this (checked every check_every steps;
    # train.steps stays the cap); None: train all train.steps
    until_accuracy: float | None = Field(None, gt=0, le=1, description="a fraction in (0, 1]")
    check_every: int = Field(0, ge=0)  # optimiser steps between accuracy checks; 0 = checkpoint_every

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not DEVICE_PATTERN.match(v):
            raise ValueError(f"train.device = {v!r}: must be auto, cpu, cuda or cuda:N")
        return v


class _DeprecatedValidate(property):
    """``RunConfig.validate``: on an instance, the deprecated alias of :meth:`RunConfig.checked` (it warns);
    on the class, pydantic's own ``BaseModel.validate``, which the alias no longer hides.

    A ``property`` subclass, so pydantic leaves the attribute alone.
    """

    def __get__(self, obj, owner=None):
        if obj is None:
            return vars(BaseModel)["validate"].__get__(None, owner)  # pydantic's (deprecated) classmethod

        def validate() -> "RunConfig":
            warnings.warn("RunConfig.validate() is deprecated: use RunConfig.checked() (validate shadowed "
                          "pydantic's BaseModel.validate)", DeprecationWarning, stacklevel=2)
            return obj.checked()

        return validate


class RunConfig(BaseModel):
    """Everything that determines a training run."""

    model_config = ConfigDict(extra="forbid")

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    diffusion: DiffusionConfig = DiffusionConfig()
    train: TrainConfig = TrainConfig()

    @classmethod
    def from_dict(cls, d: Any) -> "RunConfig":
        """Build from nested dicts; a bad key or value raises a one-line ConfigError."""
        return validate_section(cls, d)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls.from_dict(json.loads(text))

    def with_overrides(self, overrides: list[str] | dict[str, Any]) -> "RunConfig":
        """Apply ``key=value`` strings (or a flat dotted dict) and return a new config."""
        d = self.to_dict()
        items = overrides.items() if isinstance(overrides, dict) else [split_override(o) for o in overrides]
        for key, value in items:
            set_dotted(d, key, value)
        return RunConfig.from_dict(d)

    def resolved(self) -> "RunConfig":
        """Fill per-axis values (sigma_x, spacing_y, ...) and the automatic checkpoint interval."""
        c = self.model_copy(deep=True)
        c.data = c.data.resolved()
        if c.train.checkpoint_every == 0:
            c.train.checkpoint_every = max(1, c.train.steps // 10)
        return c

    def checked(self) -> "RunConfig":
        """A copy whose model parameters are checked by the model's factory, defaults filled in.

        (Formerly ``validate``, which shadowed pydantic's ``BaseModel.validate``.)
        """
        params = validate_model_params(self.model.name, self.model.params, self.data.image_size)
        return self.model_copy(update={"model": ModelConfig(name=self.model.name, **params)})

    validate = _DeprecatedValidate()
