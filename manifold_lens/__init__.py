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

from importlib import metadata as _metadata

from .lazy import attach as _attach

try:
    __version__ = _metadata.version("manifold-lens")
except _metadata.PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0.1.0"

__getattr__, __dir__, __all__ = _attach(__name__, {
    "analysis": ["analyze_run", "capture", "extract_activations", "extract_run", "list_layers", "measure",
                 "run_with_cache"],
    "config": ["RunConfig", "load_config"],
    "datasets": ["SyntheticDataset", "build_dataset"],
    "diffusion": ["NoiseSchedule", "sample"],
    "errors": ["ConfigError", "ManifoldLensError", "StoreError"],
    "evaluation": ["evaluate_run", "localize"],
    "interop": ["export_checkpoints", "import_checkpoints"],
    "percolation": ["continuum_overlap", "coverage_graph", "dataset_percolation", "design_keep_fractions",
                    "image_overlap", "largest_cluster", "lattice_percolation", "neighbour_overlap_curve",
                    "percolation_test", "percolation_vs_accuracy", "pixel_overlap"],
    "report": ["render_report"],
    "stores": ["open_results", "open_run", "read_results"],
    "studies": ["open_study", "study_grid", "run_study", "study_status"],
    "studies.refine": ["refine_study"],
})
