"""Percolation: image overlaps, coverage graphs, site percolation of the training lattice, and the onset test.

``settings`` (:class:`PercolationSettings` and :class:`PercolationTestSettings`:
every default, check and result attribute of the stage), ``overlap``
(normalised overlaps of rendered or continuum bumps, ``overlap="pixel"`` or
``"continuum"``), ``kernels`` (Newman-Ziff union-find passes and canonical
averages), ``lattice`` (site percolation with the overlap neighbourhood),
``graph`` (coverage graphs of datasets) and the percolation test: ``sigmoid``
(the one onset estimator), ``intervals`` (its profile-likelihood intervals),
``table`` (the table of runs it
reads), ``crosswidth`` (regression and collapse across widths), ``verdict``,
``test`` (:func:`percolation_test`) and ``design`` (:func:`design_keep_fractions`).
Names are imported on first use (:mod:`manifold_lens.lazy`).

Retired, for one release (``DeprecationWarning``): ``onset.fit_onset`` (use
``sigmoid.onset``) and ``percolation_vs_accuracy`` (use :func:`percolation_test`).
The science is in docs/science.md, section 5.
"""

from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "design": ["design_keep_fractions"],
    "graph": ["Cluster", "coverage_graph", "dataset_percolation", "largest_cluster"],
    "kernels": ["ESTIMATOR"],
    "lattice": ["DEFAULT_KEEP_FRACTIONS", "LatticeSpec", "check_keep_fractions", "lattice_neighbourhood",
                "lattice_of_config", "lattice_percolation", "percolate"],
    "onset": ["fit_onset", "percolation_vs_accuracy"],  # retired (DeprecationWarning when called)
    "overlap": ["connection_radius", "continuum_overlap", "image_overlap", "neighbour_overlap_curve",
                "pixel_overlap"],
    "settings": ["PercolationSettings", "PercolationTestSettings", "check_overlap", "check_threshold"],
    "test": ["percolation_test"],
})
