"""Analysis: hook layers, extract representations over conditions, and measure them.

``hooks`` (capture any module's output), ``grid`` (the conditions and their
ground truth), ``extract`` (activations over noise, one per draw: dim
``draw``), ``settings`` (:class:`ExtractionSettings`, :class:`MeasureSettings`:
every parameter's default and check), the metrics (``geometry``,
``factorization``, ``continuity``, ``topology``), ``measure`` (all metrics of
one set of activations), ``references`` (pixels, init, shuffled and ideal
codes), ``compare`` (a code measured beside them: :func:`references_for`) and
``analyze`` (every checkpoint of a run into a results store).
"""

from .analyze import analyze_run
from .compare import references_for
from .extract import extract_activations, extract_run, resolve_layers, run_layers
from .grid import condition_grid, render_grid
from .hooks import capture, list_layers, run_with_cache
from .measure import measure
from .references import REFERENCES, ideal_codes, learned, stack_references
from .settings import ExtractionSettings, MeasureSettings

__all__ = ["analyze_run", "ExtractionSettings", "MeasureSettings", "extract_activations", "extract_run",
           "resolve_layers", "run_layers", "condition_grid", "render_grid", "capture", "list_layers", "run_with_cache",
           "measure", "references_for", "REFERENCES", "ideal_codes", "learned", "stack_references"]
