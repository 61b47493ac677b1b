"""Plot conventions: every figure takes ``ax=`` (one panel) or ``fig=`` (several) and returns the Figure, and the
representation figures draw a plain ``measure()`` result as it is (no checkpoint, layer or timestep dims)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

import manifold_lens as ml
from manifold_lens import plot
from manifold_lens.studies.claims import scaling_fits
from tests.builders import synthetic_analysis, synthetic_evaluation, synthetic_percolation
from tests.report import study_datasets as sd


@pytest.fixture(scope="module")
def measured():
    """measure() of a Clifford torus code on an 8 x 8 grid (periodic), with homology."""
    gx, gy = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    x, y = gx.ravel().astype(float), gy.ravel().astype(float)
    rng = np.random.default_rng(0)
    code = np.stack([np.cos(2 * np.pi * x / 8), np.sin(2 * np.pi * x / 8), np.cos(2 * np.pi * y / 8),
                     np.sin(2 * np.pi * y / 8)], 1)
    acts = xr.DataArray(np.hstack([code, 0.01 * rng.standard_normal((64, 6))]), dims=("condition", "unit"),
                        coords={"x": ("condition", x), "y": ("condition", y)})
    return ml.measure(acts, periodic=True, homology=True, homology_null_draws=2)


def test_plain_measure_results_are_drawn_as_they_are(measured):
    assert not {"checkpoint", "layer", "timestep", "reference"} & set(measured.dims)
    fig = plot.pca_spectrum(measured)
    assert isinstance(fig, Figure)
    right = fig.axes[1]
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(), [float(measured.explained_variance_top4)])
    assert "measured" not in fig._suptitle.get_text()  # no made-up layer or timestep in the title
    fig = plot.effective_dim_curve(measured)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [float(measured.effective_dim)])
    fig = plot.metrics_curve(measured)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["factorization score"].get_ydata(), [float(measured.factorization_score)])
    for draw in (plot.chord_histograms, plot.similarity_curves, plot.embedding_views, plot.persistence_diagram):
        assert isinstance(draw(measured), Figure)
    fig = plot.persistence_diagram(measured)
    assert f"betti_1 = {int(measured.betti_1)}" in fig._suptitle.get_text()


def _one_panel_cases():
    study = sd.scaling_study(noise=False)
    return [(plot.accuracy_map, (synthetic_evaluation(),)), (plot.composition_accuracy, (sd.composition_study(),)),
            (plot.rim_accuracy, (sd.rim_study(),)), (plot.study_accuracy_curves, (sd.torus_study(),)),
            (plot.scaling_size, (scaling_fits(study, bootstrap=0),)), (plot.training_loss, (_loss(),)),
            (plot.neighbour_overlap, (ml.neighbour_overlap_curve([1.0], np.linspace(0, 4, 9)),)),
            (plot.coverage_map, (None, [0, 1], [0, 1], ["train", "interior"]))]


def _loss():
    return xr.Dataset({"loss": ("step", np.linspace(1.0, 0.1, 20))}, coords={"step": np.arange(20)})


def test_one_panel_figures_draw_into_the_given_axes():
    for draw, args in _one_panel_cases():
        own = draw(*args)
        assert isinstance(own, Figure) and len(own.axes) >= 1
        host = Figure()
        left, right = host.subplots(1, 2)
        if draw is plot.coverage_map:
            got = draw(right, *args[1:])
        else:
            got = draw(*args, ax=right)
        assert got is host, draw.__name__
        assert right.has_data() and not left.has_data(), draw.__name__


def test_several_panel_figures_draw_into_the_given_figure():
    ev, an, perc = synthetic_evaluation(), synthetic_analysis(), synthetic_percolation()
    study = sd.scaling_study(noise=False)
    cases = [(plot.accuracy_curve, (ev,)), (plot.pca_spectrum, (an,)), (plot.effective_dim_curve, (an,)),
             (plot.chord_histograms, (an,)), (plot.percolation_curves, (perc,)),
             (plot.lesion_accuracy, (sd.lesion_study(),)), (plot.scaling_accuracy, (study,)),
             (plot.accuracy_vs_key, (sd.lesion_study(), "width")), (plot.torus_references, (sd.torus_study(),))]
    for draw, args in cases:
        host = Figure()
        left, right = host.subfigures(1, 2)
        got = draw(*args, fig=right)
        assert got is host, draw.__name__
        assert right.axes and not left.axes, draw.__name__


def test_scaling_accuracy_draws_the_given_crossings():
    study = sd.scaling_study(noise=False)
    fits = scaling_fits(study, bootstrap=0)
    fig = plot.scaling_accuracy(study, fits=fits)
    first = fig.axes[0]  # N = 16: each training set's crossing, dashed, at the stored keep fraction
    dashed = sorted(ln.get_xdata()[0] for ln in first.get_lines() if ln.get_linestyle() == "--")
    expected = sorted(fits["crossing_keep_fraction"].sel(image_size=16).values)
    np.testing.assert_allclose(dashed, expected)
    fig = plot.scaling_accuracy(study, crossings=False)
    assert not [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"]
