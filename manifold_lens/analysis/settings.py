"""Analysis settings: every extraction and measure parameter's default, check, recorded attribute and resume rule, once.

:class:`ExtractionSettings` (how activations are extracted: mode, timesteps,
noise draws, ...) and :class:`MeasureSettings` (what :func:`analyze_run`
measures and keeps: layers, checkpoints, the condition grid, embeddings,
references, homology, ...) are the analysis stage's
:class:`~manifold_lens.settings.StageSettings`. :func:`analyze_run`,
:func:`extract_activations`, the CLI's ``analyze`` options and a study's
``[analyze]`` table (the ``names()`` of both) read their defaults from them;
``check()`` refuses a bad value in one line naming the parameter
(``noise_draws = 0: must be an integer >= 1``).

The attributes written beside the results and the resume key of an analysis
group keep the names and values stores have always held
(``extraction_timesteps``, ``references``, ...), so groups written before are
read and continued as before.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from numbers import Integral
from typing import TYPE_CHECKING, Any, ClassVar

from ..config import DEVICE_PATTERN
from ..coords import COORDS
from ..diffusion.plan import check_visited, ddim_timesteps, plan_sampler, timestep_grid
from ..errors import ConfigError, ManifoldLensError
from ..settings import StageSettings, setting
from . import topology as topo

REFERENCES = ("learned", "pixels", "init", "shuffled", "torus3d", "clifford", "plane", "conjunctive")  # codes measured side by side
EMBED_METHODS = ("pca", "isomap", "umap")


def check_embed_methods(embed) -> tuple[str, ...]:
    """Embedding methods from a tuple or a comma string ("pca,umap"), each one of :data:`EMBED_METHODS`, unique."""
    if embed is None:
        return ()
    methods = tuple(m.strip().lower() for m in (embed.split(",") if isinstance(embed, str) else embed)
                    if m.strip())
    bad = [m for m in methods if m not in EMBED_METHODS]
    if bad:
        raise ConfigError(f"embed = {','.join(bad)!r}: choose among {', '.join(EMBED_METHODS)}")
    return tuple(dict.fromkeys(methods))


if TYPE_CHECKING:  # annotations only: the schedule needs torch
    from ..diffusion.schedule import NoiseSchedule

MODES = ("noised", "trajectory")
# Default timestep as a fraction of T: low noise, the image is still clearly
# visible (t = 50 of T = 1000: sqrt(abar) = 0.985, noise std 0.17).
DEFAULT_TIMESTEP_FRACTION = 0.05
NOISE_TEXT = ("one noise field per draw, shared by all conditions (seed + draw): eps in noised mode, "
              "the start noise x_T in trajectory mode; draws kept (dim draw)")


def default_timesteps(T, mode: str = "noised", sampling_steps: int = 50) -> list[int]:
    """Default analysis timesteps: [round(0.05 T)] (50 for T = 1000).

    In trajectory mode, the DDIM-visited timestep nearest to it (41 for
    T = 1000 and 50 steps). ``T``: an int, or the schedule (its DDIM spacing).
    """
    grid, T = T, timestep_grid(T)[0]
    t = int(round(DEFAULT_TIMESTEP_FRACTION * T))
    if mode == "trajectory":
        t = min(ddim_timesteps(grid, min(sampling_steps, T)), key=lambda v: (abs(v - t), v))
    return [t]


def _bad(name: str, value: Any, text: str) -> ConfigError:
    return ConfigError(f"{name} = {value!r}: {text}")


def _integer(name: str, value: Any, minimum: int | None = None) -> int:
    """``value`` as an int (an integral number, not a bool), at least ``minimum``; else a ConfigError."""
    ok = not isinstance(value, bool) and (isinstance(value, Integral)
                                          or (isinstance(value, float) and value.is_integer()))
    if not ok or (minimum is not None and int(value) < minimum):
        raise _bad(name, value, "must be an integer" + (f" >= {minimum}" if minimum is not None else ""))
    return int(value)


def _flag(name: str, value: Any, none: bool = False) -> bool | None:
    if value is None and none:
        return None
    if not isinstance(value, bool) and not (isinstance(value, Integral) and value in (0, 1)):
        raise _bad(name, value, "expected true or false" + (" (or none for the default)" if none else ""))
    return bool(value)


def _step_list(text: str) -> bool:
    """Whether ``text`` is "all", "last" or comma-separated whole steps ("0,500")."""
    if text.strip() in ("all", "last"):
        return True
    parts = [p.strip() for p in text.split(",")]
    return all(p.lstrip("-").isdigit() for p in parts) and bool(parts)


def check_checkpoints(value: Any) -> Any:
    """A checkpoint selection of the right form ("all", "last", "0,500", a step or a list of steps).

    Whether the steps exist is checked against the run
    (:func:`~manifold_lens.stores.select_checkpoints`).
    """
    ok = ((isinstance(value, str) and _step_list(value)) or (isinstance(value, Integral) and not isinstance(value, bool))
          or (isinstance(value, (list, tuple)) and len(value) > 0
              and all(isinstance(v, Integral) and not isinstance(v, bool) for v in value)))
    if not ok:
        raise _bad("checkpoints", value, 'give "last", "all", a step or a list of steps')
    return list(value) if isinstance(value, tuple) else value


@dataclasses.dataclass(frozen=True)
class ExtractionSettings(StageSettings):
    """How activations are extracted (docs/science.md, section 3); recorded as ``extraction_*`` attrs."""

    stage: ClassVar[str] = "extraction"

    mode: str = setting("noised", "noised (the ground-truth image forward-noised to t) or trajectory (the model's "
                        "own DDIM trajectory)")
    timesteps: tuple[int, ...] | None = setting(None, "diffusion timesteps in [0, T); none: round(0.05 T)",
                                                units=COORDS["timestep"]["units"])
    noise_draws: int = setting(4, "noise draws per condition, kept (dim draw)", units="draws")
    seed: int = setting(0, "seed of noise draw 0 (draw k uses seed + k)")
    pool: bool = setting(False, "average spatial maps over space (unit = channel)")
    sampling_steps: int = setting(50, "DDIM steps of the trajectory mode", units="sampler steps")
    batch_size: int = setting(256, "images per forward pass", units="images")

    def check(self, schedule: NoiseSchedule | None = None) -> "ExtractionSettings":
        """A checked copy; with ``schedule`` the timesteps are completed (default) and checked against its T.

        Each bad value is a one-line :class:`ConfigError` naming the parameter.
        """
        if self.mode not in MODES:
            raise _bad("mode", self.mode, f"choose one of {', '.join(MODES)}")
        counts = {k: _integer(k, getattr(self, k), 1) for k in ("noise_draws", "batch_size", "sampling_steps")}
        seed = _integer("seed", self.seed)
        pool = _flag("pool", self.pool)
        timesteps = self.timesteps
        if timesteps is not None:
            if isinstance(timesteps, (str, bytes)) or not isinstance(timesteps, Sequence):
                timesteps = [timesteps]
            timesteps = tuple(_integer("timesteps", t) for t in timesteps)
            if not timesteps:
                raise ConfigError("timesteps = []: give at least one timestep")
            if len(set(timesteps)) != len(timesteps):
                raise _bad("timesteps", list(timesteps), "give each timestep once")
        out = dataclasses.replace(self, timesteps=timesteps, seed=seed, pool=pool, **counts)
        if schedule is None:
            negative = [t for t in timesteps or () if t < 0]
            if negative:
                raise _bad("timesteps", negative, "outside [0, T): timesteps are >= 0")
            return out
        if timesteps is None:
            timesteps = default_timesteps(schedule, out.mode, out.sampling_steps)
        try:  # the schedule's own checks word the message; a bad value is a ConfigError like the rest
            timesteps = tuple(schedule.check_timesteps(timesteps, "timesteps"))
            if out.mode == "trajectory":
                check_visited(out.sampler_plan(schedule), timesteps, "timesteps")
        except ManifoldLensError as e:
            raise ConfigError(str(e)) from None
        return dataclasses.replace(out, timesteps=timesteps)

    def validate(self, schedule: NoiseSchedule) -> "ExtractionSettings":
        """Deprecated: use :meth:`check` (``check(schedule=...)`` returns the checked copy)."""
        warnings.warn("ExtractionSettings.validate(schedule) is deprecated: use check(schedule=schedule), which "
                      "returns the checked settings", DeprecationWarning, stacklevel=2)
        return self.check(schedule=schedule)

    def sampler_plan(self, schedule: NoiseSchedule):
        """The deterministic DDIM sampler of the trajectory mode."""
        return plan_sampler("ddim", min(self.sampling_steps, schedule.T), 0.0, schedule)

    def attrs(self) -> dict[str, Any]:
        """The attributes recorded with extracted activations (analysis groups prefix them ``extraction_``)."""
        return {"mode": self.mode, "timesteps": None if self.timesteps is None else [int(t) for t in self.timesteps],
                "noise_draws": int(self.noise_draws), "seed": int(self.seed), "pool": int(self.pool),
                "sampling_steps": int(self.sampling_steps), "batch_size": int(self.batch_size),
                "noise": NOISE_TEXT}


@dataclasses.dataclass(frozen=True)
class MeasureSettings(StageSettings):
    """What :func:`~manifold_lens.analysis.analyze_run` measures and keeps, beside the extraction."""

    stage: ClassVar[str] = "analysis"

    layers: Any = setting(None, "module names, globs or aliases (layer4); none: the model's default (bottleneck)")
    checkpoints: Any = setting("all", "checkpoints to analyse: all, last, a step or a list of steps",
                               units=COORDS["checkpoint"]["units"])
    x: Any = setting(None, "condition grid along x: a list or 'lo:hi[:step]'; none: every candidate condition",
                     units=COORDS["x"]["units"])
    y: Any = setting(None, "condition grid along y: a list or 'lo:hi[:step]'; none: every candidate condition",
                     units=COORDS["y"]["units"])
    ema: bool | None = setting(None, "use the EMA weights; none: when the run has them")
    embed: tuple[str, ...] = setting(("pca",), f"embeddings computed, any of {', '.join(EMBED_METHODS)}")
    references: bool = setting(True, "also measure pixels, the untrained network, a shuffled null and the ideal "
                               "codes (dim reference)")
    homology: bool | None = setting(None, "persistent homology (H0/H1, Betti-1) of every code; none: periodic "
                                    "data only")
    keep_activations: bool = setting(False, "also store the activations, averaged over noise draws")
    device: str = setting("auto", "auto, cpu, cuda or cuda:N", resume=False)
    # the loop count's rule (manifold_lens.analysis.topology; docs/science.md, section 3)
    homology_neighbors: int = setting(topo.NEIGHBORS, "k of the loop count's local scale (distance to the k-th "
                                      "nearest neighbour)", units="neighbours")
    homology_null_draws: int = setting(topo.NULL_DRAWS, "shuffled copies a loop must outlast (significance "
                                       "1 / (draws + 1))", units="draws")
    betti_min_ratio: float = setting(topo.MIN_DEATH_BIRTH_RATIO, "death / birth a loop must exceed in locally "
                                     "scaled distances (0.5 less in plain ones)")

    def check(self) -> "MeasureSettings":
        """A checked copy (``embed`` as a tuple of methods); a bad value is a ConfigError naming the parameter."""
        layers = self.layers
        if layers is not None:
            names = [layers] if isinstance(layers, str) else layers
            if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) and n for n in names):
                raise _bad("layers", layers, "give a module name, glob or alias, or a list of them")
        if not DEVICE_PATTERN.match(str(self.device)):
            raise _bad("device", self.device, "must be auto, cpu, cuda or cuda:N")
        ratio = self.betti_min_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio >= 1 + topo.BAND_RATIO_STEP:
            raise _bad("betti_min_ratio", ratio, f"must be a number >= {1 + topo.BAND_RATIO_STEP:g} (death / birth)")
        return dataclasses.replace(
            self, homology_neighbors=_integer("homology_neighbors", self.homology_neighbors, 1),
            homology_null_draws=_integer("homology_null_draws", self.homology_null_draws, 1),
            betti_min_ratio=float(ratio),
            checkpoints=check_checkpoints(self.checkpoints), embed=check_embed_methods(self.embed),
            ema=_flag("ema", self.ema, none=True), references=_flag("references", self.references),
            homology=_flag("homology", self.homology, none=True),
            keep_activations=_flag("keep_activations", self.keep_activations))

    # -- recorded attributes ------------------------------------------------------------------
    @property
    def conditions_text(self) -> str:
        return "every candidate condition" if self.x is None and self.y is None else f"grid x={self.x}, y={self.y}"

    @property
    def reference_names(self) -> list[str]:
        return list(REFERENCES) if self.references else ["learned"]

    @property
    def homology_attr(self) -> str | int:
        return "default (periodic data)" if self.homology is None else int(bool(self.homology))

    def loop_rule(self) -> dict[str, Any]:
        """The loop count's settings, as :func:`~manifold_lens.measure` keywords."""
        return {"homology_neighbors": int(self.homology_neighbors),
                "homology_null_draws": int(self.homology_null_draws), "betti_min_ratio": float(self.betti_min_ratio)}

    def attrs(self) -> dict[str, Any]:
        """The attributes of an analysis group that come from these settings (as stores have always named them)."""
        layers = self.layers
        return {"layers_requested": list(layers) if isinstance(layers, (list, tuple)) else (layers or "default"),
                "embed": list(self.embed), "conditions": self.conditions_text, "references": self.reference_names,
                "homology": self.homology_attr}

    def resume_key(self, extraction: ExtractionSettings | None = None, *, source_run: str = "",
                   checkpoints: Sequence[int] = (), layers: Sequence[str] = (), ema: bool = False) -> dict[str, Any]:
        """What a continued analysis group must share with these settings (its ``settings`` attribute).

        Besides the settings: the run's path, the chosen checkpoint steps, the
        resolved layer names, whether EMA weights are used and the extraction
        settings (``extraction_*``, as in :meth:`ExtractionSettings.attrs`).
        """
        ex = {} if extraction is None else {f"extraction_{k}": v for k, v in extraction.attrs().items()}
        return {"source_run": str(source_run), "checkpoints": [int(s) for s in checkpoints],
                "embed": list(self.embed), "ema": int(bool(ema)), "conditions": self.conditions_text,
                "layers": list(layers), **ex, "keep_activations": bool(self.keep_activations),
                "references": self.reference_names, "homology": self.homology_attr, **self.loop_rule()}
