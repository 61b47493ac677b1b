"""Percolation: image overlaps, coverage graphs, site percolation of the training lattice, and the onset test.

``overlap`` (normalised overlaps of rendered or continuum bumps), ``kernels``
(Newman-Ziff union-find passes and canonical averages), ``lattice`` (site
percolation with the overlap neighbourhood), ``graph`` (coverage graphs of
datasets), ``onset`` (terminal accuracy against the predicted onset, the older
side-by-side comparison) and the percolation test: ``sigmoid`` (the one onset
estimator and its bootstrap), ``crosswidth`` (regression and collapse across
widths), ``verdict``, ``test`` (:func:`percolation_test`) and ``design``
(:func:`design_keep_fractions`).
"""

from .graph import Cluster, coverage_graph, dataset_percolation, largest_cluster
from .kernels import ESTIMATOR
from .lattice import (DEFAULT_KEEP_FRACTIONS, LatticeSpec, check_keep_fractions, lattice_neighbourhood,
                      lattice_of_config, lattice_percolation, percolate)
from .design import design_keep_fractions
from .onset import fit_onset, percolation_vs_accuracy
from .overlap import connection_radius, continuum_overlap, image_overlap, neighbour_overlap_curve, pixel_overlap
from .test import percolation_test

__all__ = ["Cluster", "coverage_graph", "dataset_percolation", "largest_cluster", "ESTIMATOR",
           "DEFAULT_KEEP_FRACTIONS", "LatticeSpec", "check_keep_fractions", "lattice_neighbourhood",
           "lattice_of_config", "lattice_percolation", "percolate", "fit_onset", "percolation_vs_accuracy",
           "connection_radius",
           "continuum_overlap", "image_overlap", "neighbour_overlap_curve", "pixel_overlap", "percolation_test",
           "design_keep_fractions"]
