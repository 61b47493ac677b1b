"""Evaluation: sample from a run's checkpoints, locate the bumps, score generation accuracy."""

from .evaluate import evaluate_model, evaluate_run, select_conditions
from .localize import localize
from .scoring import PHASES, aggregate, coordinate_error, locate_samples, score, scored_axes, width_ok
from .settings import CONDITION_SETS, EvaluationSettings, evaluation_name
from .shims import check_settings, evaluation_settings

__all__ = ["CONDITION_SETS", "EvaluationSettings", "evaluation_settings", "check_settings", "evaluate_model",
           "evaluate_run", "evaluation_name",
           "select_conditions", "localize", "PHASES", "aggregate", "coordinate_error", "locate_samples", "score",
           "scored_axes", "width_ok"]
