"""manifold-lens: train small conditional DDPMs on Gaussian bumps and look inside them.

Main entry points: :func:`open_run` (a training run store), :func:`open_results`
(a results store as an ``xarray.DataTree``), :func:`load_config`,
:class:`SyntheticDataset`.
"""

__version__ = "0.1.0"

from .analyze import analyze_run  # noqa: E402
from .config import RunConfig, load_config  # noqa: E402
from .datasets import SyntheticDataset, build_dataset  # noqa: E402
from .errors import ConfigError, ManifoldLensError, StoreError  # noqa: E402
from .evaluate import evaluate_run  # noqa: E402
from .extract import extract_activations, extract_run  # noqa: E402
from .hooks import capture, list_layers, run_with_cache  # noqa: E402
from .localize import localize  # noqa: E402
from .measure import measure  # noqa: E402
from .onset import percolation_vs_accuracy  # noqa: E402
from .overlap import continuum_overlap, image_overlap, neighbour_overlap_curve, pixel_overlap  # noqa: E402
from .percolation import coverage_graph, dataset_percolation, largest_cluster, lattice_percolation  # noqa: E402
from .report import render_report  # noqa: E402
from .results import open_results, read_results  # noqa: E402
from .runstore import open_run  # noqa: E402
from .sampling import sample  # noqa: E402
from .schedule import NoiseSchedule  # noqa: E402
