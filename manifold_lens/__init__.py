"""manifold-lens: train small conditional DDPMs on Gaussian bumps and look inside them.

Main entry points: :func:`open_run` (a training run store), :func:`open_results`
(a results store as an ``xarray.DataTree``), :func:`load_config`,
:class:`SyntheticDataset`, :func:`measure`. The packages follow the flow:
``datasets`` -> (a registered trainer) -> ``stores`` (run store) ->
``evaluation`` / ``analysis`` -> ``stores`` (results store) -> ``report``,
with ``percolation`` beside them and ``studies`` over them all; ``config``,
``settings``, ``models`` (registries) and ``devices`` serve all stages
(docs/architecture.md).

The import is lazy (PEP 562): ``import manifold_lens`` loads no subpackage
(and so no torch); each public name, and each subpackage as an attribute,
is imported on first use.
"""

from importlib import import_module as _import_module
from importlib import metadata as _metadata
from importlib.util import find_spec as _find_spec

try:
    __version__ = _metadata.version("manifold-lens")
except _metadata.PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0.1.0"

# public name -> the subpackage or module that defines it
_EXPORTS = {
    **dict.fromkeys(["analyze_run", "capture", "extract_activations", "extract_run", "list_layers", "measure",
                     "run_with_cache"], "analysis"),
    **dict.fromkeys(["RunConfig", "load_config"], "config"),
    **dict.fromkeys(["SyntheticDataset", "build_dataset"], "datasets"),
    **dict.fromkeys(["NoiseSchedule", "sample"], "diffusion"),
    **dict.fromkeys(["ConfigError", "ManifoldLensError", "StoreError"], "errors"),
    **dict.fromkeys(["evaluate_run", "localize"], "evaluation"),
    **dict.fromkeys(["continuum_overlap", "coverage_graph", "dataset_percolation", "design_keep_fractions",
                     "image_overlap", "largest_cluster", "lattice_percolation", "neighbour_overlap_curve",
                     "percolation_test", "percolation_vs_accuracy", "pixel_overlap"], "percolation"),
    "render_report": "report",
    **dict.fromkeys(["open_results", "open_run", "read_results"], "stores"),
    **dict.fromkeys(["open_study", "study_grid", "run_study", "study_status"], "studies"),
}

__all__ = ["analyze_run", "capture", "extract_activations", "extract_run", "list_layers", "measure",
           "run_with_cache", "RunConfig", "load_config", "SyntheticDataset", "build_dataset", "NoiseSchedule",
           "sample", "ConfigError", "ManifoldLensError", "StoreError", "evaluate_run", "localize",
           "continuum_overlap", "coverage_graph", "dataset_percolation", "image_overlap", "largest_cluster",
           "lattice_percolation", "neighbour_overlap_curve", "percolation_vs_accuracy", "pixel_overlap",
           "percolation_test", "design_keep_fractions",
           "render_report", "open_results", "open_run", "read_results", "run_study", "study_status",
           "open_study", "study_grid"]


def __getattr__(name: str):
    """A public name (imported from its subpackage on first use), or a subpackage such as ``manifold_lens.stores``."""
    if name in _EXPORTS:
        value = getattr(_import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    elif not name.startswith("_") and _find_spec(f"{__name__}.{name}") is not None:
        value = _import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
