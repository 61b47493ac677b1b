"""The stage settings of a study (``[evaluate]``, ``[analyze]``) and its executor, checked before anything runs.

:func:`check_stage` checks a stage's table for every run's config: its valid
keys are its settings classes' ``names()`` (:data:`SETTINGS`); its checks are the
settings classes' own (``from_mapping``, with the run's noise schedule as
context). :func:`check_executor` says in one line when the executor's package
(or Slurm) is missing.
"""

from __future__ import annotations

import inspect
import shutil
import warnings
from typing import Any

from ..analysis.settings import ExtractionSettings, MeasureSettings
from ..devices import resolve_device
from ..diffusion.schedule import NoiseSchedule
from ..errors import ConfigError, ManifoldLensError
from ..evaluation.settings import EvaluationSettings
from .studyfile import ExecutorSpec

STAGES = ("evaluate", "analyze")
CALL = ("out", "name", "replace", "progress", "log")  # keywords the study sets on every stage call (and the run)
SETTINGS = {"evaluate": (EvaluationSettings,), "analyze": (ExtractionSettings, MeasureSettings)}


def stage_keys(stage: str) -> list[str]:
    """The keys a study's ``[stage]`` table may hold (besides ``enabled``): its settings classes' ``names()``."""
    return list(dict.fromkeys(n for cls in SETTINGS[stage] for n in cls.names() if n not in CALL))


def _takes(cls, key: str, value: Any) -> bool:
    """Whether settings class ``cls`` takes ``key`` (one of its names, or a former name its from_mapping renames)."""
    if key in cls.names():
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            cls.from_mapping({key: value})
    except ConfigError as e:
        return "unknown key" not in str(e)
    return True


def _context(cls, config) -> dict:
    """The context a settings class's ``check`` takes, from a run config: ``schedule`` and/or ``timesteps``."""
    offered = {"schedule": NoiseSchedule.from_config(config.diffusion), "timesteps": config.diffusion.timesteps}
    params = inspect.signature(cls.check).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return offered
    return {k: v for k, v in offered.items() if k in params}


def _check_settings(stage: str, settings: dict, config) -> None:
    """Check each key with the settings class that declares it (``from_mapping``, with the run's schedule)."""
    classes = SETTINGS[stage]
    for cls in classes:
        names = cls.names()
        mine = {key: v for key, v in settings.items() if key in names
                or (not any(key in c.names() for c in classes) and _takes(cls, key, v))}
        cls.from_mapping(mine, where=f"[{stage}]", **_context(cls, config))


def check_stage(stage: str, settings: dict, configs: list) -> dict | None:
    """The stage's kwargs (None when switched off), checked against the stage's own checks for every config."""
    settings = dict(settings)
    enabled = settings.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"[{stage}] enabled = {enabled!r}: expected true or false")
    if not enabled:
        return None
    params = stage_keys(stage)
    for key in settings:
        if key not in params and not any(_takes(cls, key, settings[key]) for cls in SETTINGS[stage]):
            raise ConfigError(f"unknown key {key!r} in [{stage}]: valid keys are enabled, {', '.join(params)}")
    try:
        for timesteps in sorted({c.diffusion.timesteps for c in configs}):
            _check_settings(stage, settings, next(c for c in configs if c.diffusion.timesteps == timesteps))
        if "device" in settings:
            resolve_device(settings["device"])
    except ConfigError as e:
        text = str(e)
        raise ConfigError(text if text.startswith(f"[{stage}]") else f"[{stage}] {text}") from None
    except ManifoldLensError as e:  # one line, the stage named
        raise ConfigError(f"[{stage}] {e}") from None
    except (ValueError, TypeError) as e:  # a wrong type the stage's checks did not word
        raise ConfigError(f"[{stage}] {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return settings


# -- executors available -------------------------------------------------------------------------

def check_executor(spec: ExecutorSpec) -> None:
    """A one-line error when the executor's package (or Slurm) is missing."""
    if spec.kind == "slurm":
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise ConfigError("executor 'slurm' needs submitit: pip install 'manifold-lens[slurm]'") from None
        if spec.slurm.cluster in ("auto", "slurm") and shutil.which("sbatch") is None:
            raise ConfigError("executor 'slurm': no Slurm here (sbatch is not on PATH); run on a Slurm login node, "
                              "or use executor = \"local\"")
    elif spec.kind == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError("executor 'dask' needs dask.distributed: pip install 'manifold-lens[dask]'") from None
