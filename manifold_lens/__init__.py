"""manifold-lens: train small conditional DDPMs on Gaussian bumps and look inside them.

Main entry points: :func:`open_run` (a training run store), :func:`open_results`
(a results store as an ``xarray.DataTree``), :func:`load_config`,
:class:`SyntheticDataset`, :func:`measure`. The packages follow the flow:
``datasets`` -> (a registered trainer) -> ``stores`` (run store) ->
``evaluation`` / ``analysis`` -> ``stores`` (results store) -> ``report``,
with ``percolation`` beside them; ``config``, ``models`` (registries) and
``devices`` serve all stages.
"""

__version__ = "0.1.0"

from .analysis import analyze_run, capture, extract_activations, extract_run, list_layers, measure, run_with_cache
from .config import RunConfig, load_config
from .datasets import SyntheticDataset, build_dataset
from .diffusion import NoiseSchedule, sample
from .errors import ConfigError, ManifoldLensError, StoreError
from .evaluation import evaluate_run, localize
from .percolation import (continuum_overlap, coverage_graph, dataset_percolation, design_keep_fractions,
                          image_overlap, largest_cluster, lattice_percolation, neighbour_overlap_curve,
                          percolation_test, percolation_vs_accuracy, pixel_overlap)
from .report import render_report
from .stores import open_results, open_run, read_results
from .studies import open_study, study_grid
from .studies import run_study, study_status

__all__ = ["analyze_run", "capture", "extract_activations", "extract_run", "list_layers", "measure",
           "run_with_cache", "RunConfig", "load_config", "SyntheticDataset", "build_dataset", "NoiseSchedule",
           "sample", "ConfigError", "ManifoldLensError", "StoreError", "evaluate_run", "localize",
           "continuum_overlap", "coverage_graph", "dataset_percolation", "image_overlap", "largest_cluster",
           "lattice_percolation", "neighbour_overlap_curve", "percolation_vs_accuracy", "pixel_overlap",
           "percolation_test", "design_keep_fractions",
           "render_report", "open_results", "open_run", "read_results", "run_study", "study_status",
           "open_study", "study_grid"]
