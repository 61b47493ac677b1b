"""Analysis: hook layers, extract representations over conditions, and measure them.

``hooks`` (capture any module's output), ``grid`` (the conditions and their
ground truth), ``extract`` (activations over noise, one per draw: dim
``draw``), ``settings`` (:class:`ExtractionSettings`, :class:`MeasureSettings`:
every parameter's default and check), the metrics (``geometry``,
``factorization``, ``chords``, ``continuity``, ``topology``), ``measure`` (all metrics of
one set of activations), ``references`` (pixels, init, shuffled and ideal
codes), ``compare`` (a code measured beside them: :func:`references_for`) and
``analyze`` (every checkpoint of a run into a results store). Names are
imported on first use (:mod:`manifold_lens.lazy`).
"""

from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "analyze": ["analyze_run"],
    "compare": ["references_for"],
    "extract": ["extract_activations", "extract_run", "resolve_layers", "run_layers"],
    "grid": ["condition_grid", "render_grid"],
    "hooks": ["capture", "list_layers", "run_with_cache"],
    "measure": ["measure"],
    "references": ["REFERENCES", "conjunctive_code", "ideal_codes", "learned", "stack_references"],
    "settings": ["ExtractionSettings", "MeasureSettings"],
})
