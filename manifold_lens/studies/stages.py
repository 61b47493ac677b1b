"""The stage settings of a study (``[evaluate]``, ``[analyze]``) and its executor, checked before anything runs.

:func:`check_stage` checks a stage's kwargs with the stage's own checks for
every run's config; :func:`check_executor` says in one line when the
executor's package (or Slurm) is missing.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from .spec import ExecutorSpec

STAGES = ("evaluate", "analyze")
# kwargs of the stage functions that the study sets itself
_FIXED = {"evaluate": ("run", "out", "name", "replace", "progress", "log"),
          "analyze": ("run_or_path", "out", "name", "replace", "progress", "log")}


def stage_function(stage: str):
    if stage == "evaluate":
        from ..evaluation import evaluate_run
        return evaluate_run
    from ..analysis import analyze_run
    return analyze_run


def _checkpoints(value: Any, where: str) -> None:
    ok = (value in ("last", "all") or (isinstance(value, int) and not isinstance(value, bool))
          or (isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool)
                                                         for v in value)))
    if not ok:
        raise ConfigError(f"[{where}] checkpoints = {value!r}: give \"last\", \"all\", a step or a list of steps")


def check_stage(stage: str, settings: dict, configs: list) -> dict | None:
    """The stage's kwargs (None when switched off), checked against the stage's own checks for every config."""
    settings = dict(settings)
    enabled = settings.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"[{stage}] enabled = {enabled!r}: expected true or false")
    if not enabled:
        return None
    params = [p for p in inspect.signature(stage_function(stage)).parameters if p not in _FIXED[stage]]
    for key in settings:
        if key not in params:
            raise ConfigError(f"unknown key {key!r} in [{stage}]: valid keys are enabled, {', '.join(params)}")
    if "checkpoints" in settings:
        _checkpoints(settings["checkpoints"], stage)
    try:
        for timesteps in sorted({c.diffusion.timesteps for c in configs}):
            if stage == "evaluate":
                from ..evaluation.evaluate import evaluation_settings
                keys = inspect.signature(evaluation_settings).parameters
                evaluation_settings(**{k: v for k, v in settings.items() if k in keys}, timesteps=timesteps)
                if "conditions" in settings:
                    from ..evaluation.evaluate import CONDITION_SETS
                    if settings["conditions"] not in CONDITION_SETS:
                        raise ConfigError(f"conditions = {settings['conditions']!r}: must be one of "
                                          f"{', '.join(CONDITION_SETS)}")
            else:
                from ..analysis.extract import ExtractionSettings
                from ..analysis.geometry import check_embed_methods
                from ..diffusion import NoiseSchedule
                keys = ExtractionSettings.__dataclass_fields__
                ExtractionSettings(**{k: v for k, v in settings.items() if k in keys}).validate(
                    NoiseSchedule.from_config(next(c.diffusion for c in configs
                                                   if c.diffusion.timesteps == timesteps)))
                check_embed_methods(settings.get("embed", ("pca",)))
        if "device" in settings:
            from ..devices import resolve_device
            resolve_device(settings["device"])
    except ConfigError as e:
        raise ConfigError(f"[{stage}] {e}") from None
    except (ValueError, TypeError) as e:  # a wrong type the stage's checks did not word
        raise ConfigError(f"[{stage}] {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    except Exception as e:  # ManifoldLensError and friends: one line, the stage named
        from ..errors import ManifoldLensError
        if not isinstance(e, ManifoldLensError):
            raise
        raise ConfigError(f"[{stage}] {e}") from None
    return settings


# -- executors available -------------------------------------------------------------------------

def check_executor(spec: ExecutorSpec) -> None:
    """A one-line error when the executor's package (or Slurm) is missing."""
    import shutil

    if spec.kind == "slurm":
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise ConfigError("executor 'slurm' needs submitit: pip install 'manifold-lens[slurm]'") from None
        if spec.slurm.cluster in ("auto", "slurm") and shutil.which("sbatch") is None:
            raise ConfigError("executor 'slurm': no Slurm here (sbatch is not on PATH); run on a Slurm login node, "
                              "or use --executor local")
    elif spec.kind == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError("executor 'dask' needs dask.distributed: pip install 'manifold-lens[dask]'") from None
