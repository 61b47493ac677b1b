"""Figures, by stage: each a function taking xarray objects (or a dataset) and returning a matplotlib Figure.

Every function reads results as written by ``evaluate``, ``analyze``
(or a plain :func:`manifold_lens.measure` result), ``percolate`` and
``percolate test``, a study's stored claim computations (or run-store pieces
such as ``open_run(p).loss``) and never recomputes a metric. Each takes
``ax=`` (one-panel figures) or ``fig=`` (several panels: a Figure or
SubFigure) to draw into an existing figure, and returns the Figure. Figures are plain
:class:`matplotlib.figure.Figure` objects made without pyplot, so importing
this package changes no global state (no backend switch) and figures need no
closing; in a notebook they display as usual. Restyle them freely::

    fig = manifold_lens.plot.accuracy_curve(read_results("results.zarr", "evaluation"))
    fig.axes[0].set_ylim(0.5, 1); fig.savefig("accuracy.pdf")

Modules: ``data`` (dataset gallery, coverage map, training loss), ``generation`` (accuracy),
``representations`` and ``topology`` (analysis and measure results), ``percolation`` (curves, overlaps,
the percolation test), and the study figures ``study``, ``claims``, ``scaling`` and ``torus``, which take
the Dataset of :func:`manifold_lens.open_study` (dim ``run``).

Colours are consistent throughout (:mod:`.style`): x is ``X_COLOR`` (blue), y
is ``Y_COLOR`` (red), maps coloured by x or y use ``X_CMAP`` / ``Y_CMAP``;
hold-out regions use ``REGION_COLORS``, learning phases ``PHASE_COLORS``,
reference manifolds ``MANIFOLD_COLORS``. A figure whose input lacks what it
needs raises :class:`FigureDataError` with one line saying what is missing
and how to produce it.
"""

from .data import coverage_map, dataset_preview, training_loss
from .generation import accuracy_curve, accuracy_map
from .percolation import (lambda_c_comparison, neighbour_overlap, onset_comparison, percolation_collapse,
                          percolation_curves, percolation_onsets)
from .representations import (chord_histograms, effective_dim_curve, embedding_views, metrics_curve, pca_spectrum,
                              similarity_curves)
from .topology import persistence_diagram
from .claims import composition_accuracy, interior_exterior_accuracy, lesion_accuracy, rim_accuracy
from .scaling import scaling_accuracy, scaling_size, size_for_accuracy
from .study import ERRORBARS, accuracy_vs_key, seed_mean, study_accuracy_curves, study_value, swept_names
from .torus import torus_references, torus_training
from .style import (CHORD_PANELS, MANIFOLD_COLORS, MANIFOLD_LABELS, PHASE_COLORS, PHASE_LABELS, REGION_COLORS,
                    STEP_LABEL, X_CMAP, X_COLOR, Y_CMAP, Y_COLOR, FigureDataError, analysis_slice, region_color,
                    representative_checkpoints, source_label)

__all__ = ["coverage_map", "dataset_preview", "training_loss", "accuracy_curve", "accuracy_map", "neighbour_overlap",
           "onset_comparison", "percolation_curves", "percolation_onsets", "lambda_c_comparison",
           "percolation_collapse", "chord_histograms", "effective_dim_curve", "embedding_views",
           "metrics_curve", "pca_spectrum", "persistence_diagram", "similarity_curves", "accuracy_vs_key",
           "study_accuracy_curves", "study_value", "swept_names", "seed_mean", "lesion_accuracy",
           "interior_exterior_accuracy", "composition_accuracy", "rim_accuracy", "scaling_accuracy", "scaling_size",
           "size_for_accuracy", "torus_training", "torus_references", "ERRORBARS", "CHORD_PANELS",
           "MANIFOLD_COLORS", "MANIFOLD_LABELS", "PHASE_COLORS", "PHASE_LABELS", "REGION_COLORS", "STEP_LABEL",
           "X_CMAP", "X_COLOR", "Y_CMAP", "Y_COLOR", "FigureDataError", "analysis_slice", "region_color",
           "representative_checkpoints", "source_label"]
