"""Percolation: image overlaps, coverage graphs, site percolation of the training lattice, and the onset test.

``settings`` (:class:`PercolationSettings` and :class:`PercolationTestSettings`:
every default, check and result attribute of the stage), ``overlap``
(normalised overlaps of rendered or continuum bumps, ``overlap="pixel"`` or
``"continuum"``), ``kernels`` (Newman-Ziff union-find passes and canonical
averages), ``lattice`` (site percolation with the overlap neighbourhood),
``graph`` (coverage graphs of datasets) and the percolation test: ``sigmoid``
(the one onset estimator and its bootstrap), ``table`` (the table of runs it
reads), ``crosswidth`` (regression and collapse across widths), ``verdict``,
``test`` (:func:`percolation_test`) and ``design`` (:func:`design_keep_fractions`).

Retired, for one release (``DeprecationWarning``): ``onset.fit_onset`` (use
``sigmoid.onset``) and ``percolation_vs_accuracy`` (use :func:`percolation_test`).
The science is in docs/science.md, section 5.
"""

from .design import design_keep_fractions
from .graph import Cluster, coverage_graph, dataset_percolation, largest_cluster
from .kernels import ESTIMATOR
from .lattice import (DEFAULT_KEEP_FRACTIONS, LatticeSpec, check_keep_fractions, lattice_neighbourhood,
                      lattice_of_config, lattice_percolation, percolate)
from .onset import fit_onset, percolation_vs_accuracy
from .overlap import connection_radius, continuum_overlap, image_overlap, neighbour_overlap_curve, pixel_overlap
from .settings import PercolationSettings, PercolationTestSettings, check_overlap, check_threshold
from .test import percolation_test

__all__ = ["Cluster", "coverage_graph", "dataset_percolation", "largest_cluster", "ESTIMATOR",
           "DEFAULT_KEEP_FRACTIONS", "LatticeSpec", "check_keep_fractions", "lattice_neighbourhood",
           "lattice_of_config", "lattice_percolation", "percolate", "connection_radius",
           "continuum_overlap", "image_overlap", "neighbour_overlap_curve", "pixel_overlap", "percolation_test",
           "design_keep_fractions", "PercolationSettings", "PercolationTestSettings", "check_overlap",
           "check_threshold",
           # retired (DeprecationWarning when called), for one release
           "fit_onset", "percolation_vs_accuracy"]
