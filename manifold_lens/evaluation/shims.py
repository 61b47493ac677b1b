"""Deprecated entry points of the evaluation settings, kept for one release (each warns once per call).

``evaluation_settings(...)`` and ``check_settings(run, ...)`` are now
``EvaluationSettings(...).check(timesteps=T)`` (and ``run.select_checkpoints``).
"""

from __future__ import annotations

import warnings

from .settings import EvaluationSettings, renamed_keywords

_DEFAULT = EvaluationSettings.default


def evaluation_settings(sampler: str = _DEFAULT("sampler"), steps: int | None = _DEFAULT("steps"),
                        eta: float = _DEFAULT("eta"), timesteps: int = 1000,
                        samples_per_condition: int = _DEFAULT("samples_per_condition"),
                        tolerance: float = _DEFAULT("tolerance"), seed: int = _DEFAULT("seed"),
                        batch_size: int = _DEFAULT("batch_size"), threshold: float | None = None,
                        min_peak: float = _DEFAULT("min_peak"),
                        second_bump_threshold: float = _DEFAULT("second_bump_threshold"),
                        max_width_ratio: float = _DEFAULT("max_width_ratio"),
                        peak_fraction: float = _DEFAULT("peak_fraction")) -> EvaluationSettings:
    """Deprecated: ``EvaluationSettings(...).check(timesteps=timesteps)``."""
    warnings.warn("evaluation_settings(...) is deprecated: use EvaluationSettings(...).check(timesteps=T)",
                  DeprecationWarning, stacklevel=2)
    values = renamed_keywords({"peak_fraction": peak_fraction, "threshold": threshold})
    return EvaluationSettings(sampler=sampler, steps=steps, eta=eta, samples_per_condition=samples_per_condition,
                              tolerance=tolerance, seed=seed, batch_size=batch_size, min_peak=min_peak,
                              second_bump_threshold=second_bump_threshold, max_width_ratio=max_width_ratio,
                              **values).check(timesteps=timesteps)


def check_settings(run, checkpoints=_DEFAULT("checkpoints"), sampler: str = _DEFAULT("sampler"),
                   steps: int | None = _DEFAULT("steps"), eta: float = _DEFAULT("eta"),
                   tolerance: float = _DEFAULT("tolerance"),
                   samples_per_condition: int = _DEFAULT("samples_per_condition"), seed: int = _DEFAULT("seed"),
                   batch_size: int = _DEFAULT("batch_size"), threshold: float | None = None,
                   min_peak: float = _DEFAULT("min_peak"),
                   second_bump_threshold: float = _DEFAULT("second_bump_threshold"),
                   max_width_ratio: float = _DEFAULT("max_width_ratio"),
                   peak_fraction: float = _DEFAULT("peak_fraction")) -> tuple[EvaluationSettings, list[int]]:
    """Deprecated: ``EvaluationSettings(...).check(timesteps=run's T)`` and ``run.select_checkpoints(checkpoints)``."""
    warnings.warn("check_settings(run, ...) is deprecated: use EvaluationSettings(...).check(timesteps=T) and "
                  "run.select_checkpoints(checkpoints)", DeprecationWarning, stacklevel=2)
    values = renamed_keywords({"peak_fraction": peak_fraction, "threshold": threshold})
    settings = EvaluationSettings(
        checkpoints=checkpoints, sampler=sampler, steps=steps, eta=eta, samples_per_condition=samples_per_condition,
        tolerance=tolerance, seed=seed, batch_size=batch_size, min_peak=min_peak,
        second_bump_threshold=second_bump_threshold, max_width_ratio=max_width_ratio,
        **values).check(timesteps=run.config.diffusion.timesteps)
    return settings, run.select_checkpoints(checkpoints)
