"""Figures of ``manifold_lens.plot`` from small synthetic results and from a tiny real run.

The synthetic results (``tests.builders``) are made with the real code paths
wherever one exists: evaluation aggregates come from ``evaluate.aggregate`` on
per-sample scores drawn with a known success rate, analysis results from
``measure`` on codes that turn from random into a Clifford torus over
"checkpoints", percolation curves from ``lattice_percolation`` and the
comparison from ``percolation_vs_accuracy``. Tests check that each figure draws
the numbers it was given, not only that it renders. Every figure is also drawn
from a tiny real run (trained, evaluated, analysed) by ``test_quickstart``.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import LineCollection, QuadMesh
from matplotlib.figure import Figure

from manifold_lens import plot
from manifold_lens.percolation.overlap import neighbour_overlap_curve
from tests.builders import (STEPS, synthetic_analysis, synthetic_comparison, synthetic_dataset, synthetic_evaluation,
                            synthetic_percolation)


@pytest.fixture(scope="module")
def evaluation():
    return synthetic_evaluation()


@pytest.fixture(scope="module")
def analysis():
    return synthetic_analysis()


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    return synthetic_comparison(tmp_path_factory.mktemp("comparison"))


def png_size(fig: Figure, dpi: int = 50) -> tuple[int, int]:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    head = buf.getvalue()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def assert_renders(fig: Figure) -> None:
    """The figure draws to a PNG of exactly its size in inches x dpi (constrained layout, no cropping)."""
    assert isinstance(fig, Figure)
    w, h = fig.get_size_inches()
    got = png_size(fig)
    assert abs(got[0] - w * 50) < 1 and abs(got[1] - h * 50) < 1, (got, w, h)


def texts(fig: Figure) -> str:
    """Every title, label, text box and legend text of a figure, joined."""
    out = [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), *(t.get_text() for t in ax.texts)]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return "\n".join(out)


# -- synthetic results ------------------------------------------------------------------

def test_accuracy_curve_draws_the_aggregates(evaluation):
    fig = plot.accuracy_curve(evaluation)
    assert_renders(fig)
    top, bottom = fig.axes[:2]
    lines = {ln.get_label(): ln for ln in top.get_lines()}
    np.testing.assert_allclose(lines["overall"].get_ydata(), evaluation.accuracy.values)
    np.testing.assert_allclose(lines["out-of-distribution (held out)"].get_ydata(), evaluation.accuracy_ood.values)
    np.testing.assert_allclose(lines["region interior"].get_ydata(),
                               evaluation.accuracy_region.sel(region_name="interior").values)
    # phases stacked: the top of the stack is 1 at every checkpoint
    tops = bottom.collections[-1].get_paths()[0].vertices[:, 1].max()
    assert tops == pytest.approx(1.0)
    assert "C: correct" in texts(fig) and "symlog" in bottom.get_xlabel() and "(optimiser steps" in bottom.get_xlabel()


def test_accuracy_map_grid_and_hold_out_outline(evaluation):
    fig = plot.accuracy_map(evaluation)
    assert_renders(fig)
    ax = fig.axes[0]
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    last = evaluation.isel(checkpoint=-1)
    grid = np.asarray(mesh.get_array()).reshape(16, 16)
    # conditions are on a 16 x 16 lattice: row = y, column = x
    for c in [0, 17, 100, 255]:
        assert grid[int(last.y[c]), int(last.x[c])] == pytest.approx(float(last.accuracy_condition[c]))
    # the 4 x 4 interior hold-out is outlined by 16 unit segments in its region colour
    outline = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(outline) == 1 and len(outline[0].get_segments()) == 16
    assert "step 1000" in ax.get_title() and "held out: interior (16)" in texts(fig)
    assert fig.axes[1].get_ylabel().startswith("accuracy at the condition")  # the colour bar
    assert ax.yaxis_inverted()  # image convention: row 0 at the top


def test_accuracy_map_extended_canvas_shows_the_frame():
    ds = synthetic_dataset(["data.image_size=16", "data.family=stripes"])
    ev = synthetic_evaluation(ds, steps=(0, 100))
    ev.attrs["config"] = {"data": {"image_size": 16}}
    fig = plot.accuracy_map(ev, checkpoint=0)
    assert_renders(fig)
    assert "16 x 16 frame" in texts(fig) and "step 0" in fig.axes[0].get_title()
    with pytest.raises(plot.FigureDataError, match="no checkpoint at step 5 in these results"):
        plot.accuracy_map(ev, checkpoint=5)


def test_pca_spectrum_and_top4(analysis):
    fig = plot.pca_spectrum(analysis)
    assert_renders(fig)
    left, right = fig.axes[0], fig.axes[1]
    final = analysis.isel(checkpoint=-1, timestep=0, layer=0)
    lines = left.get_lines()
    assert len(lines) == len(STEPS) + 5  # one per checkpoint, then pixels, init, 3-D torus, Clifford, conjunctive
    np.testing.assert_allclose(lines[len(STEPS) - 1].get_ydata(),
                               final.explained_variance_ratio.sel(reference="learned").values)
    assert [ln.get_label() for ln in lines[len(STEPS):]] == ["pixels (ground truth)", "untrained network (init)",
                                                           "ideal 3-D torus", "ideal Clifford torus",
                                                           "conjunctive (smooth, entangled)"]
    np.testing.assert_allclose(lines[-2].get_ydata(), final.explained_variance_ratio.sel(reference="clifford"))
    top4 = float(final.explained_variance_top4.sel(reference="learned"))
    assert top4 > 0.99  # the final code is a Clifford torus: 4 directions
    assert f"{100 * top4:.1f}%" in left.texts[0].get_text()
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(),  # the top-4 share at every checkpoint
                               analysis.explained_variance_top4.isel(timestep=0, layer=0).sel(reference="learned"))
    assert "bottleneck, t = 50" in fig._suptitle.get_text()


def test_effective_dim_and_metrics_curves(analysis):
    fig = plot.effective_dim_curve(analysis)
    assert_renders(fig)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(),
                               analysis.effective_dim[:, 0, 0].sel(reference="learned").values)
    panel = fig.axes[1]  # the final step's learned value beside each reference
    points = {ln.get_label(): ln.get_xdata()[0] for ln in panel.get_lines()}
    final = analysis.effective_dim.isel(checkpoint=-1, timestep=0, layer=0)
    for ref, label in (("learned", "learned"), ("pixels", "pixels (ground truth)"), ("clifford", "ideal Clifford torus")):
        assert points[label] == pytest.approx(float(final.sel(reference=ref)))
    assert "participation ratio" in fig.axes[0].get_ylabel()
    fig = plot.metrics_curve(analysis)
    assert_renders(fig)
    colors = {ln.get_label(): ln.get_color() for ln in fig.axes[0].get_lines()}
    assert colors["x decodability (R^2)"] == plot.X_COLOR and colors["y decodability (R^2)"] == plot.Y_COLOR
    # several layers and timesteps: one line each, labelled
    two = xr.concat([analysis, analysis.assign_coords(layer=["encoder.2"])], "layer")
    fig = plot.effective_dim_curve(two)
    assert {ln.get_label() for ln in fig.axes[0].get_lines()} == {
        "effective dimension (bottleneck, t = 50)", "effective dimension (encoder.2, t = 50)"}


def test_embedding_views_early_middle_final(analysis):
    fig = plot.embedding_views(analysis, "pca")
    assert_renders(fig)
    axes3d = [ax for ax in fig.axes if ax.name == "3d"]
    assert len(axes3d) == 6
    assert [ax.get_title() for ax in axes3d[:3]] == [f"step {s}, coloured by x" for s in (0, 100, 1000)]
    cbars = [ax for ax in fig.axes if ax.name != "3d"]
    assert [c.get_ylabel() for c in cbars] == ["x (px, column)", "y (px, row)"]
    # colours: x in blues, y in reds; the held-out condition is a triangle
    sc = axes3d[0].collections[0]
    assert sc.get_cmap().name == "x_blues" and axes3d[3].collections[0].get_cmap().name == "y_reds"
    assert len(axes3d[0].collections) == 2 and "triangles" in fig._suptitle.get_text()
    fig = plot.embedding_views(analysis, "pca", checkpoints=[10])
    assert len([ax for ax in fig.axes if ax.name == "3d"]) == 2
    with pytest.raises(plot.FigureDataError, match="embedding_umap.*--embed umap"):
        plot.embedding_views(analysis, "umap")


def test_chord_histograms_learned_vs_ideal(analysis):
    fig = plot.chord_histograms(analysis)
    assert_renders(fig)
    assert len(fig.axes) == 5
    x_on_y = fig.axes[0]
    # the final code is a Clifford torus: its summary equals the ideal Clifford torus's
    last = analysis.isel(checkpoint=-1, timestep=0, layer=0)
    learned, clifford = (float(last.x_on_y_orthogonality.sel(reference=m)) for m in ("learned", "clifford"))
    assert learned == pytest.approx(clifford, abs=0.05)
    assert "x-on-y orthogonality" in x_on_y.get_title()
    assert fig.axes[1].title.get_color() == plot.X_COLOR and fig.axes[2].title.get_color() == plot.Y_COLOR
    legend = set(texts(fig).split("\n"))
    assert {"learned", "pixels (ground truth)", "untrained network (init)", "labels shuffled (null)",
            "ideal 3-D torus", "ideal Clifford torus"} <= legend  # periodic data: the tori are its ideal codes
    assert "ideal flat sheet" not in legend
    assert f"learned: {learned:.2f}" in texts(fig) and f"clifford: {clifford:.2f}" in texts(fig)


def test_similarity_curves_x_blue_y_red(analysis):
    fig = plot.similarity_curves(analysis)
    assert_renders(fig)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")}
    assert lines["x, step 1000"].get_color() == plot.X_COLOR and lines["y, step 1000"].get_color() == plot.Y_COLOR
    sim = analysis.x_similarity_by_distance.isel(checkpoint=-1, timestep=0, layer=0).sel(reference="learned").values
    np.testing.assert_allclose(lines["x, step 1000"].get_ydata(), sim[np.isfinite(sim)])
    assert "(px)" in fig.axes[0].get_xlabel()


def test_percolation_curves_and_isolated_sigma():
    perc = synthetic_percolation()
    fig = plot.percolation_curves(perc)
    assert_renders(fig)
    left = fig.axes[0]
    curves = [ln for ln in left.get_lines() if ln.get_label().startswith("sigma")]
    assert len(curves) == 3
    np.testing.assert_allclose(curves[2].get_ydata(), perc.largest_cluster_ratio.isel(sigma=2).mean("trial"))
    legend = texts(fig)
    assert "sigma = 0.1 px (isolated: no neighbours)" in legend
    assert f"lambda_c = {float(perc.lambda_c[2]):.3f}" in legend
    assert "24 x 24 lattice" in fig._suptitle.get_text()


def test_neighbour_overlap_pixels_vs_continuum():
    ov = neighbour_overlap_curve([0.1, 1.0, 2.0], np.linspace(0, 8, 33))
    fig = plot.neighbour_overlap(ov, threshold=0.005, spacing=1.0)
    assert_renders(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and "(px)" in ax.get_xlabel()
    assert "connection threshold 0.005" in texts(fig) and "dataset spacing 1 px" in texts(fig)


def test_onset_comparison(comparison):
    fig = plot.onset_comparison(comparison)
    assert_renders(fig)
    left, right = fig.axes
    marks = [ln for ln in left.get_lines() if "terminal" in ln.get_label()][0]
    np.testing.assert_allclose(marks.get_ydata(), comparison.terminal_accuracy.values)
    point = right.containers[0].lines[0]
    assert point.get_ydata()[0] == pytest.approx(float(comparison.lambda_c_measured[0]))
    assert point.get_xdata()[0] == pytest.approx(float(comparison.lambda_c_predicted[0]))


def test_onset_comparison_states_failed_fits(comparison):
    failed = comparison.copy()
    failed["lambda_c_measured"] = failed.lambda_c_measured * np.nan
    failed["fit_status"] = ("sigma", np.array(["accuracy changes by < 0.05: no onset to fit"]))
    fig = plot.onset_comparison(failed)
    assert_renders(fig)
    assert "no onset" in fig.axes[1].texts[0].get_text()


def test_dataset_preview_and_loss(tmp_path):
    ds = synthetic_dataset()
    fig = plot.dataset_preview(ds, n_examples=9, title="interior hold-out")
    assert_renders(fig)
    cov = fig.axes[-1]
    assert "240 trained of 256" in cov.get_title() and "interior (16)" in texts(fig)
    loss = xr.Dataset({"loss": ("step", 1.0 / np.arange(1, 201))}, coords={"step": np.arange(1, 201)})
    fig = plot.training_loss(loss, checkpoints=[0, 50, 200])
    assert_renders(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and "running mean (4 steps)" in texts(fig) and "checkpoints" in texts(fig)


def test_missing_variables_are_one_line_errors(evaluation, analysis):
    cases = [
        (plot.accuracy_curve, evaluation.drop_vars("phase_fraction"), "phase_fraction"),
        (plot.pca_spectrum, analysis.drop_vars("explained_variance_ratio"), "explained_variance_ratio"),
        (plot.chord_histograms, analysis.drop_vars("x_on_x_cos_hist"), "x_on_x_cos_hist"),
        (plot.percolation_curves, evaluation, "largest_cluster_ratio"),
        (plot.effective_dim_curve, evaluation, "effective_dim"),
    ]
    for fn, ds, name in cases:
        with pytest.raises(plot.FigureDataError, match=name) as info:
            fn(ds)
        assert "\n" not in str(info.value)
    with pytest.raises(plot.FigureDataError, match="layer 'nope': not in these results; present: bottleneck"):
        plot.pca_spectrum(analysis, layer="nope")


# -- plain measure() results, ax= and grey below SNR 1 (issues 23 and 24) ----------------------------------------

def _measured(snr=None, draws=4):
    """measure() of a Clifford torus on an 8 x 8 grid in 12 units, with independent noise at ``snr`` (None: none)."""
    import manifold_lens as ml
    gx, gy = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    x, y = gx.ravel().astype(float), gy.ravel().astype(float)
    code = np.stack([np.cos(np.pi * x / 4), np.sin(np.pi * x / 4), np.cos(np.pi * y / 4), np.sin(np.pi * y / 4)], 1)
    code = code @ np.linalg.qr(np.random.default_rng(0).standard_normal((12, 4)))[0].T
    coords = {"x": ("condition", x), "y": ("condition", y)}
    if snr is None:
        return ml.measure(xr.DataArray(code, dims=("condition", "unit"), coords=coords), embed=())
    sd = np.sqrt(code.var(axis=0).mean() / snr)
    noisy = code[None] + sd * np.random.default_rng(1).standard_normal((draws, *code.shape))
    return ml.measure(xr.DataArray(noisy, dims=("draw", "condition", "unit"), coords=coords), embed=())


def test_pca_spectrum_and_metrics_curve_take_a_plain_measure_result_and_ax():
    m = _measured()
    for draw in (plot.pca_spectrum, plot.metrics_curve, plot.effective_dim_curve):
        assert_renders(draw(m))
        host = Figure()
        left, right = host.subplots(1, 2)
        assert draw(m, ax=right) is host, draw.__name__
        assert right.has_data() and not left.has_data() and len(host.axes) == 2, draw.__name__
    host = Figure()
    ax = host.add_subplot()
    plot.pca_spectrum(m, ax=ax)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), m.explained_variance_ratio.values)
    host = Figure()
    ax = host.add_subplot()
    plot.metrics_curve(m, ax=ax)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    np.testing.assert_allclose(lines["factorization score"].get_ydata(), [float(m.factorization_score)])


def test_values_below_snr_1_are_greyed_and_the_legend_says_so():
    noisy, clean = _measured(snr=0.3), _measured(snr=10)
    assert float(noisy.signal_to_noise) < 1 < float(clean.signal_to_noise)
    assert "signal-to-noise < 1" in texts(plot.metrics_curve(noisy))
    assert "signal-to-noise < 1" not in texts(plot.metrics_curve(clean))
    fig = plot.chord_histograms(noisy)
    assert "(SNR<1)" in texts(fig) and "signal-to-noise < 1" in texts(fig)
    assert "SNR<1" not in texts(plot.chord_histograms(clean))
