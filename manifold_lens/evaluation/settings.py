"""Evaluation settings: every evaluation parameter's default, check, recorded attribute and resume rule, once.

:class:`EvaluationSettings` is the evaluation stage's
:class:`~manifold_lens.settings.StageSettings`. :func:`evaluate_run`, the CLI's
``evaluate`` options and a study's ``[evaluate]`` table all read their
defaults and help from it; :meth:`EvaluationSettings.check` (against a
schedule of ``timesteps`` steps, which also plans the sampler) refuses a bad
value in one line naming the parameter, e.g. ``tolerance = -1: must be > 0 px``.

The attributes written beside the results keep the names stores have always
held (``tolerance_px``; the localizer's ``threshold`` for ``peak_fraction``),
so groups written before continue and are read as before.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

from ..config import DEVICE_PATTERN
from ..diffusion import DDIM_STEPS, SAMPLERS, SamplerPlan, check_eta, plan_sampler, timestep_grid
from ..errors import ConfigError
from ..settings import StageSettings, setting

CONDITION_SETS = ("all", "train", "heldout")
BASELINES = ("nearest",)  # reference generators scored beside the model (evaluation/baselines.py)
# the attributes of the settings repeated on every accuracy variable (``ema`` comes from the run)
RECORDED = ("sampler", "sampler_steps", "eta", "tolerance_px", "max_width_ratio", "second_bump_threshold", "seed",
            "samples_per_condition", "ema")
LOCALIZER_METHOD = {"method": "known-width Gaussian fit", "width_method": "free-width Gaussian fit of the 1D profiles"}
RENAMED = {"threshold": "peak_fraction"}  # old keyword -> new (deprecated for one release)


def _bad(name: str, value: Any, text: str) -> ConfigError:
    return ConfigError(f"{name} = {value!r}: {text}" if isinstance(value, str) else f"{name} = {value}: {text}")


def renamed_keywords(values: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``values`` with deprecated keywords (``threshold``) renamed, each with a DeprecationWarning.

    A former keyword given as None is dropped; given with the new one at a
    value other than its default (and other than the former's), it is refused.
    """
    out = dict(values)
    for old, new in RENAMED.items():
        if old in out:
            value = out.pop(old)
            if value is None:
                continue
            warnings.warn(f"{where}{old}= is deprecated: evaluation's peak fraction is now {new}=",
                          DeprecationWarning, stacklevel=3)
            if out.get(new) not in (None, EvaluationSettings.default(new), value):
                raise ConfigError(f"{old} = {value} and {new} = {out[new]}: give {new} only ({old} is its former name)")
            out[new] = value
    return out


@dataclasses.dataclass(frozen=True)
class EvaluationSettings(StageSettings):
    """How samples are drawn, located and scored (docs/science.md, sections 3 and 6)."""

    stage: ClassVar[str] = "evaluation"

    checkpoints: Any = setting("last", "checkpoints to evaluate: all, last, a step or a list of steps")
    sampler: str = setting("ddim", "ddim, or ddpm (ancestral, all T steps)")
    steps: int | None = setting(None, f"DDIM steps, at most T (default {DDIM_STEPS}); ddpm takes all T",
                                units="sampler steps")
    eta: float = setting(0.0, "DDIM noise: 0 deterministic, 1 DDPM-like")
    samples_per_condition: int = setting(4, "images generated per condition")
    conditions: str = setting("all", "all, train or heldout conditions")
    tolerance: float = setting(1.0, "max error per scored coordinate", units="px")
    seed: int = setting(0, "seed of the sampling noise (the same at every checkpoint)")
    batch_size: int = setting(512, "images per forward pass", units="images")
    keep_images: bool = setting(False, "also return or store the generated images")
    device: str = setting("auto", "auto, cpu, cuda or cuda:N", resume=False)
    peak_fraction: float = setting(0.5, "pixels above this fraction of the image's peak (above background) "
                                   "form a bump, in (0, 1)", units="fraction of the peak")
    min_peak: float = setting(0.25, "an image whose peak rises less than this above its background holds no bump",
                              units="fraction of the rendered height")
    second_bump_threshold: float = setting(0.25, "a peak of fitted height above this counts as a bump however "
                                           "bright the brightest one is, in (0, 1]",
                                           units="fraction of the rendered height")
    max_width_ratio: float = setting(1.5, "a bump wider or narrower than the data's sigma by more than this "
                                     "factor is not correct (phase A), > 1", units="factor")
    baselines: tuple = setting(BASELINES, "reference generators scored beside the model with the same scorer: "
                               "nearest (each condition drawn as its nearest training condition's image); "
                               "empty for none")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, where: str | None = None, **context) -> "EvaluationSettings":
        """As :meth:`StageSettings.from_mapping`; the former key ``threshold`` is taken (with a DeprecationWarning)."""
        return super().from_mapping(renamed_keywords(values, f"{where} " if where else ""), where=where, **context)

    # -- checks ---------------------------------------------------------------------------------
    def check(self, timesteps: Any = None) -> "EvaluationSettings":
        """The settings checked and normalised; with ``timesteps`` (the run's T, or its schedule or diffusion
        config, whose DDIM timestep_spacing the plan then follows) the sampler is planned too.

        Each bad value is a one-line :class:`ConfigError` naming the parameter.
        """
        if self.sampler not in SAMPLERS:
            raise _bad("sampler", self.sampler, f"must be one of {', '.join(SAMPLERS)}")
        steps = self.steps
        if steps is not None:
            if not (_is_integral(steps) or (isinstance(steps, float) and steps.is_integer())) or steps < 1:
                raise _bad("steps", steps, "must be an integer >= 1 (at most the run's diffusion.timesteps)")
            steps = int(steps)
        eta = check_eta(self.eta)
        number = {k: _number(k, getattr(self, k)) for k in ("tolerance", "peak_fraction", "min_peak",
                                                            "second_bump_threshold", "max_width_ratio")}
        if not number["tolerance"] > 0:
            raise _bad("tolerance", self.tolerance, "must be > 0 px")
        if not 0 < number["peak_fraction"] < 1:
            raise _bad("peak_fraction", self.peak_fraction, "must be in (0, 1), a fraction of the image's peak")
        if not (math.isfinite(number["min_peak"]) and number["min_peak"] > 0):
            raise _bad("min_peak", self.min_peak, "must be a finite number > 0, a fraction of the rendered height")
        if not 0 < number["second_bump_threshold"] <= 1:
            raise _bad("second_bump_threshold", self.second_bump_threshold,
                       "must be in (0, 1], a fraction of the rendered bump height")
        if not (math.isfinite(number["max_width_ratio"]) and number["max_width_ratio"] > 1):
            raise _bad("max_width_ratio", self.max_width_ratio, "must be a finite number > 1 (the factor by which "
                       "a bump's width may differ from the data's sigma)")
        counts = {k: _integer(k, getattr(self, k)) for k in ("samples_per_condition", "batch_size", "seed")}
        for k in ("samples_per_condition", "batch_size"):
            if counts[k] < 1:
                raise _bad(k, getattr(self, k), "must be >= 1")
        if self.conditions not in CONDITION_SETS:
            raise _bad("conditions", self.conditions, f"must be one of {', '.join(CONDITION_SETS)}")
        _check_checkpoints(self.checkpoints)
        if not DEVICE_PATTERN.match(str(self.device)):
            raise _bad("device", str(self.device), "must be auto, cpu, cuda or cuda:N")
        if not isinstance(self.keep_images, bool):
            raise _bad("keep_images", self.keep_images, "expected true or false")
        out = dataclasses.replace(self, steps=steps, eta=eta, baselines=_baselines(self.baselines), **number,
                                  **counts)
        if timesteps is not None:
            plan = plan_sampler(out.sampler, out.steps, out.eta, timesteps)  # T, or a schedule: its DDIM spacing
            object.__setattr__(out, "_plan", plan)  # derived, not a field: replace() drops it
            object.__setattr__(out, "_timesteps", timestep_grid(timesteps)[0])
        return out

    # -- derived --------------------------------------------------------------------------------
    @property
    def plan(self) -> SamplerPlan:
        """The checked sampler plan (after :meth:`check` with ``timesteps``)."""
        try:
            return self._plan
        except AttributeError:
            raise ValueError("EvaluationSettings not checked against a schedule: call check(timesteps=T)") from None

    @property
    def sampler_steps(self) -> int:
        """Model calls per sample: T for ddpm, ``steps`` (default 50) for ddim."""
        if self.sampler == "ddpm":
            return len(self.plan.timesteps)
        return DDIM_STEPS if self.steps is None else int(self.steps)

    @property
    def threshold(self) -> float:
        """Deprecated: the former name of :attr:`peak_fraction`."""
        warnings.warn("EvaluationSettings.threshold is deprecated: use peak_fraction", DeprecationWarning,
                      stacklevel=2)
        return self.peak_fraction

    def name(self, timesteps: int | None = None) -> str:
        """The default results name of these settings (see :func:`evaluation_name`)."""
        t = getattr(self, "_timesteps", None) if timesteps is None else timesteps
        return evaluation_name(self.sampler, self.steps, self.eta, self.samples_per_condition, self.conditions,
                               self.tolerance, self.seed, 1000 if t is None else t, self.second_bump_threshold,
                               self.max_width_ratio)

    # -- recorded attributes and resume equality ------------------------------------------------
    def attrs(self) -> dict[str, Any]:
        """The attributes written beside an evaluation's results (as stores have always named them)."""
        return {
            "sampler": self.sampler,
            "sampler_steps": int(self.sampler_steps),
            "eta": float(self.plan.eta),  # ddpm: 1
            "tolerance_px": float(self.tolerance),
            "max_width_ratio": float(self.max_width_ratio),
            "second_bump_threshold": float(self.second_bump_threshold),
            "seed": int(self.seed),
            "samples_per_condition": int(self.samples_per_condition),
            "conditions": self.conditions,
            "clip_x0": "true",
        }

    def localizer(self, sigma=(1.0, 1.0)) -> dict[str, Any]:
        """The localizer's settings as recorded (``threshold`` is :attr:`peak_fraction`, its stored name)."""
        sx, sy = (float(s) for s in sigma)
        return {"threshold": float(self.peak_fraction), "min_peak": float(self.min_peak),
                "second_bump_threshold": float(self.second_bump_threshold), "sigma_x": sx, "sigma_y": sy,
                **LOCALIZER_METHOD}

    def resume_key(self, *, checkpoints=(), sigma=(1.0, 1.0), ema: bool = False,
                   source_run: str = "") -> dict[str, Any]:
        """What a continued evaluation group must share with these settings (its ``settings`` attribute).

        Besides the settings: the run's data widths ``sigma`` (px), whether
        its EMA weights are used, its path and the chosen checkpoint steps.
        """
        attrs = self.attrs()
        key = {**{k: attrs[k] for k in RECORDED if k != "ema"}, "ema": bool(ema), "conditions": self.conditions,
               "localizer": self.localizer(sigma), "source_run": str(source_run),
               "checkpoints": [int(s) for s in checkpoints], "batch_size": int(self.batch_size),
               "keep_images": bool(self.keep_images)}
        baselines = _baselines(self.baselines)
        if baselines:  # absent without baselines: groups written before them continue unchanged
            key["baselines"] = list(baselines)
        return key

    def differs(self, stored: Mapping[str, Any], **group) -> list[str]:
        """The resume parameters whose value in a group's attrs (its ``settings``) differs from these settings.

        ``group`` is passed to :meth:`resume_key` (checkpoints, sigma, ema, source_run).
        """
        stored = stored.get("settings", stored)
        return [f"{k} = {stored.get(k)!r} stored, {v!r} now" for k, v in self.resume_key(**group).items()
                if stored.get(k) != v]


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise _bad(name, value, "expected a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad(name, value, "expected a number") from None


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not float(_number(name, value)).is_integer():
        raise _bad(name, value, "expected an integer")
    return int(value)


def _baselines(value: Any) -> tuple[str, ...]:
    """The baselines as a tuple of known names, in order, once each: from a tuple or list of names, or one
    comma-separated string ("" and "none": none)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [] if value.strip().lower() in ("", "none") else [v.strip() for v in value.split(",")]
    try:
        names = list(value)
    except TypeError:
        raise _bad("baselines", value, f"expected a list of baseline names ({', '.join(BASELINES)}) or an "
                   "empty list") from None
    bad = [v for v in names if v not in BASELINES]
    if bad:
        raise _bad("baselines", bad[0] if isinstance(bad[0], str) else value,
                   f"unknown baseline; known: {', '.join(BASELINES)} (an empty list for none)")
    return tuple(dict.fromkeys(names))


def _is_integral(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_checkpoints(value: Any) -> None:
    """A str ("last", "all", "STEP,STEP"), a step, or a non-empty sequence of steps (ints, numpy ints)."""
    if isinstance(value, str) or _is_integral(value):
        return
    try:
        steps = list(value)
    except TypeError:
        steps = []
    if not steps or not all(_is_integral(v) for v in steps):
        raise _bad("checkpoints", value, 'give "last", "all", a step or a list of steps')


def evaluation_name(sampler: str = EvaluationSettings.default("sampler"),
                    steps: int | None = EvaluationSettings.default("steps"),
                    eta: float = EvaluationSettings.default("eta"),
                    samples_per_condition: int = EvaluationSettings.default("samples_per_condition"),
                    conditions: str = EvaluationSettings.default("conditions"),
                    tolerance: float = EvaluationSettings.default("tolerance"),
                    seed: int = EvaluationSettings.default("seed"), timesteps: int = 1000,
                    second_bump_threshold: float = EvaluationSettings.default("second_bump_threshold"),
                    max_width_ratio: float = EvaluationSettings.default("max_width_ratio")) -> str:
    """Default results name from the settings, e.g. "ddim50", "ddpm1000_k16_heldout", "ddim20_eta1_width2".

    Only the settings that differ from their defaults appear.
    """
    default = EvaluationSettings.default
    n = timesteps if sampler == "ddpm" else (DDIM_STEPS if steps is None else int(steps))
    name = f"{sampler}{n}"
    if sampler == "ddim" and eta:
        name += f"_eta{eta:g}"
    if samples_per_condition != default("samples_per_condition"):
        name += f"_k{samples_per_condition}"
    if conditions != default("conditions"):
        name += f"_{conditions}"
    if tolerance != default("tolerance"):
        name += f"_tol{tolerance:g}"
    if second_bump_threshold != default("second_bump_threshold"):
        name += f"_bump{second_bump_threshold:g}"
    if max_width_ratio != default("max_width_ratio"):
        name += f"_width{max_width_ratio:g}".replace("+", "")  # 1e+06 -> 1e06: no '+' in results names
    if seed != default("seed"):
        name += f"_seed{seed}"
    return name
