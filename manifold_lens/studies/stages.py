"""The stage settings of a study (``[evaluate]``, ``[analyze]``) and its executor, checked before anything runs.

:func:`check_stage` checks a stage's table for every run's config: its valid
keys are the stage function's keywords (less those the study sets itself,
:data:`CALL`) and its settings classes' ``names()``; its checks are the
settings classes' own (``from_mapping``, with the run's noise schedule as
context). :func:`check_executor` says in one line when the executor's package
(or Slurm) is missing.
"""

from __future__ import annotations

import inspect
import shutil
import warnings
from typing import Any

from .. import analysis, evaluation
from ..analysis.geometry import check_embed_methods
from ..devices import resolve_device
from ..diffusion import NoiseSchedule
from ..errors import ConfigError, ManifoldLensError
from ..evaluation import evaluate as _evaluate_module
from .studyfile import ExecutorSpec

STAGES = ("evaluate", "analyze")
CALL = ("out", "name", "replace", "progress", "log")  # keywords the study sets on every stage call (and the run)


def stage_function(stage: str):
    """``evaluate_run`` or ``analyze_run``."""
    return evaluation.evaluate_run if stage == "evaluate" else analysis.analyze_run


def settings_classes(stage: str) -> tuple[type, ...]:
    """The settings classes that declare the stage's parameters (the stage's own, then measure's for analyze)."""
    if stage == "evaluate":
        return (evaluation.EvaluationSettings,)
    return tuple(c for c in (analysis.ExtractionSettings, getattr(analysis, "MeasureSettings", None)) if c is not None)


def _names(cls) -> tuple[str, ...]:
    if hasattr(cls, "names"):
        return tuple(cls.names())
    return tuple(getattr(cls, "__dataclass_fields__", None) or getattr(cls, "_fields", ()))


def _declared(stage: str) -> list[type]:
    """The stage's settings classes that declare their parameters (StageSettings: ``names``, ``from_mapping``)."""
    return [cls for cls in settings_classes(stage) if hasattr(cls, "from_mapping")]


def stage_keys(stage: str) -> list[str]:
    """The keys a study's ``[stage]`` table may hold (besides ``enabled``): the ``names()`` of the stage's
    settings classes; before those declare them, the stage function's keywords less those the study sets."""
    declared = _declared(stage)
    if declared:
        return list(dict.fromkeys(n for cls in declared for n in cls.names() if n not in CALL))
    params = list(inspect.signature(stage_function(stage)).parameters.values())[1:]  # the first is the run
    return [p.name for p in params if p.name not in CALL and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


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


def _former_name(stage: str, key: str, value: Any) -> bool:
    """Whether a settings class of the stage still takes ``key`` under a former name."""
    return any(_takes(cls, key, value) for cls in _declared(stage))


def _checkpoints(value: Any, where: str) -> None:
    ok = (value in ("last", "all") or (isinstance(value, int) and not isinstance(value, bool))
          or (isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool)
                                                         for v in value)))
    if not ok:
        raise ConfigError(f"[{where}] checkpoints = {value!r}: give \"last\", \"all\", a step or a list of steps")


def _context(cls, config) -> dict:
    """The context a settings class's ``check`` takes, from a run config: ``schedule`` and/or ``timesteps``."""
    schedule = NoiseSchedule.from_config(config.diffusion)
    offered = {"schedule": schedule, "timesteps": config.diffusion.timesteps, "config": config}
    params = inspect.signature(cls.check).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return offered
    return {k: v for k, v in offered.items() if k in params}


def _check_settings(stage: str, settings: dict, config) -> set[str]:
    """Check the keys the stage's settings classes declare with their ``from_mapping``; the keys covered."""
    covered: set[str] = set()
    declared = _declared(stage)
    for cls in declared:
        names = cls.names()
        mine = {key: v for key, v in settings.items() if key in names
                or (not any(key in c.names() for c in declared) and _takes(cls, key, v))}
        cls.from_mapping(mine, where=f"[{stage}]", **_context(cls, config))
        covered.update(names)
    return covered


def _legacy_evaluate(settings: dict, config) -> None:
    """Evaluation's checks before its settings class has ``from_mapping``."""
    check = getattr(_evaluate_module, "evaluation_settings", None)
    if check is not None:
        keys = inspect.signature(check).parameters
        check(**{k: v for k, v in settings.items() if k in keys}, timesteps=config.diffusion.timesteps)


def _legacy_analyze(settings: dict, config) -> None:
    """Extraction's checks before its settings class has ``from_mapping``."""
    cls = analysis.ExtractionSettings
    if not hasattr(cls, "from_mapping"):
        keys = _names(cls)
        cls(**{k: v for k, v in settings.items() if k in keys}).validate(NoiseSchedule.from_config(config.diffusion))


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
        if key not in params and not _former_name(stage, key, settings[key]):
            raise ConfigError(f"unknown key {key!r} in [{stage}]: valid keys are enabled, {', '.join(params)}")
    if "checkpoints" in settings:
        _checkpoints(settings["checkpoints"], stage)
    try:
        for timesteps in sorted({c.diffusion.timesteps for c in configs}):
            config = next(c for c in configs if c.diffusion.timesteps == timesteps)
            covered = _check_settings(stage, settings, config)
            if stage == "evaluate":
                if not covered:
                    _legacy_evaluate(settings, config)
                sets = getattr(evaluation, "CONDITION_SETS", None)
                if "conditions" in settings and "conditions" not in covered and sets and \
                        settings["conditions"] not in sets:
                    raise ConfigError(f"conditions = {settings['conditions']!r}: must be one of {', '.join(sets)}")
            else:
                _legacy_analyze(settings, config)
                if "embed" not in covered:
                    check_embed_methods(settings.get("embed", ("pca",)))
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
