"""Evaluation: sample from a run's checkpoints, locate the bumps, score generation accuracy.

``settings`` (:class:`EvaluationSettings`, no torch), ``evaluate``
(:func:`evaluate_run`), ``localize`` / ``counting`` / ``fitting`` (finding
bumps and stripes in an image), ``scoring`` (correct, phases, aggregates),
``baselines`` (the memorising ``nearest`` generator, scored the same way).
Names are imported on first use (:mod:`manifold_lens.lazy`).
"""

from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "baselines": ["BASELINE_LABEL", "baseline_name", "baseline_variables", "nearest_baseline", "nearest_training"],
    "evaluate": ["evaluate_model", "evaluate_run", "select_conditions"],
    "localize": ["localize"],
    "scoring": ["PHASES", "aggregate", "coordinate_error", "locate_samples", "score", "scored_axes", "width_ok"],
    "settings": ["BASELINES", "CONDITION_SETS", "EvaluationSettings", "evaluation_name"],
    "shims": ["check_settings", "evaluation_settings"],
})
