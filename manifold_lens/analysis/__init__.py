"""Analysis: hook layers, extract representations over conditions, and measure them.

``hooks`` (capture any module's output), ``grid`` (the conditions and their
ground truth), ``extract`` (mean activations over noise), the metrics
(``geometry``, ``factorization``, ``continuity``, ``topology``), ``measure``
(all metrics of one set of activations), ``references`` (pixels, init,
shuffled and ideal codes, measured beside the learned one) and ``analyze``
(every checkpoint of a run into a results store).
"""

from .analyze import analyze_run
from .extract import ExtractionSettings, extract_activations, extract_run, resolve_layers, run_layers
from .grid import condition_grid, render_grid
from .hooks import capture, list_layers, run_with_cache
from .measure import measure
from .references import REFERENCES, ideal_codes, learned, stack_references

__all__ = ["analyze_run", "ExtractionSettings", "extract_activations", "extract_run", "resolve_layers", "run_layers",
           "condition_grid", "render_grid", "capture", "list_layers", "run_with_cache", "measure", "REFERENCES", "ideal_codes", "learned",
           "stack_references"]
