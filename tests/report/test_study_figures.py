"""The claims' study figures (manifold_lens.plot) from synthetic study Datasets and the study report's dispatch
on the claim, drawn from stored claim computations (never computed while rendering). No training, except the
test that reuses the session's tiny study."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

import manifold_lens as ml
from manifold_lens.report.study import study_plan
from manifold_lens.studies.claims import scaling_fits
from manifold_lens.studies.layout import PERCOLATION_TEST, SCALING
from tests.report import study_datasets as sd

SE3 = 0.02 / np.sqrt(3)  # standard error of seed noise (-0.02, 0, +0.02) over 3 seeds


def errorbar_data(container) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, half-height of the error bar) of an ErrorbarContainer with vertical bars."""
    line = container.lines[0]
    segments = container.lines[2][0].get_segments()
    half = np.array([(s[1, 1] - s[0, 1]) / 2 for s in segments])
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float), half


def test_lesion_accuracy_points_and_error_bars():
    study = sd.lesion_study()
    fig = ml.plot.lesion_accuracy(study)
    assert isinstance(fig, Figure) and len(fig.axes) == 3  # OOD, the band_x region, in-distribution
    assert [a.get_title() for a in fig.axes] == ["out-of-distribution (all held-out conditions)",
                                                 "held-out band: region band_x", "in-distribution (trained conditions)"]
    assert "held-out band width" in fig.axes[0].get_xlabel() and "accuracy" in fig.axes[0].get_ylabel()
    (c,) = fig.axes[0].containers
    x, y, half = errorbar_data(c)
    assert x.tolist() == [2, 4, 6, 8]
    # widths 2-6: three seeds around 1 - w/10; width 8 lost seed 2 (failed): mean of 0.18 and 0.2, s.e. 0.01
    np.testing.assert_allclose(y, [0.8, 0.6, 0.4, 0.19], atol=1e-12)
    np.testing.assert_allclose(half, [SE3, SE3, SE3, 0.01], atol=1e-12)
    assert "11 of 12 runs" in fig._suptitle.get_text()
    assert "2-3 seeds" in fig.axes[0].get_legend().get_texts()[0].get_text()
    note = ml.report.figures.claims.runs_left_out(study, ["accuracy_ood"])
    assert note.startswith("1 of 12 runs left out (no value: 1 failed)") and "width=8,seed=2" in note


def test_interior_exterior_lines_per_position_and_family():
    fig = ml.plot.interior_exterior_accuracy(sd.interior_exterior_study())
    left = fig.axes[0]
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert labels == ["interior, bump; 3 seeds", "interior, sos; 3 seeds", "exterior (corner), bump; 3 seeds",
                      "exterior (corner), sos; 3 seeds", "exterior (edge), bump; 3 seeds"]
    expected = {0: 0.9, 1: 1.0, 2: 0.5, 3: 0.6, 4: 0.7}  # accuracy at W = 0, by line (see the builder)
    for k, c in enumerate(left.containers):
        x, y, half = errorbar_data(c)
        assert x.tolist() == [2, 4, 6]
        np.testing.assert_allclose(y, expected[k] - 0.05 * x, atol=1e-12)
        np.testing.assert_allclose(half, SE3, atol=1e-12)
    assert left.get_xlabel().startswith("square side W")
    assert len(fig.axes[1].containers) == 5  # the in-distribution control, same lines


def test_composition_grouped_bars():
    fig = ml.plot.composition_accuracy(sd.composition_study())
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 3 * 4  # 3 training sets x (band_x, band_y, intersection, trained control)
    heights = np.array([b.get_height() for b in bars]).reshape(4, 3)  # series-major
    expected = np.array(list(sd.COMPOSITION.values())).T
    np.testing.assert_allclose(heights[:3], expected, atol=1e-12)
    np.testing.assert_allclose(heights[3], 0.95)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sos-cross", "stripes", "stripes+sos"]
    errs = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    assert len(errs) == 12
    half = [(s[1, 1] - s[0, 1]) / 2 for c in errs[:9] for s in c.lines[2][0].get_segments()]
    np.testing.assert_allclose(half, SE3, atol=1e-12)
    assert [t.get_text() for t in ax.get_legend().get_texts()][:3] == [
        "vertical band (x held out)", "horizontal band (y held out)", "intersection (x and y held out)"]


def test_rim_bars_with_and_without():
    fig = ml.plot.rim_accuracy(sd.rim_study())
    ax = fig.axes[0]
    heights = [b.get_height() for b in ax.patches]
    np.testing.assert_allclose(heights, [0.2, 0.7, 0.15, 0.65, 0.25, 0.75], atol=1e-12)  # OOD, frame_2d, interior
    assert [t.get_text() for t in ax.get_xticklabels()] == ["include_rim=False", "include_rim=True"]


def test_figures_refuse_what_the_study_lacks():
    lesion = sd.lesion_study()
    with pytest.raises(ml.plot.FigureDataError, match="does not sweep data.holdout.width"):
        ml.plot.lesion_accuracy(lesion.drop_vars("width"))
    with pytest.raises(ml.plot.FigureDataError, match="no run has a band_x, band_y or intersection"):
        ml.plot.composition_accuracy(sd.rim_study())
    with pytest.raises(ml.plot.FigureDataError, match="no run has an 'interior' or 'exterior' region"):
        ml.plot.interior_exterior_accuracy(lesion)
    with pytest.raises(ml.plot.FigureDataError, match="one training set"):
        ml.plot.rim_accuracy(sd.rim_study().isel(run=[0, 1, 2]))
    with pytest.raises(ml.plot.FigureDataError, match="effective_dim_curve"):
        ml.plot.torus_training(lesion)
    with pytest.raises(ml.plot.FigureDataError, match="does not sweep data.keep_fraction"):
        ml.plot.scaling_accuracy(lesion)
    with pytest.raises(ml.plot.FigureDataError, match="scaling size: results have no train_size"):
        ml.plot.scaling_size(lesion.isel(run=0))  # not the scaling fits


def test_size_for_accuracy_moved_to_studies_warns():
    study = sd.scaling_study(noise=False)
    with pytest.warns(DeprecationWarning, match="scaling_fits"):
        res = ml.plot.size_for_accuracy(study, bootstrap=0)
    xr.testing.assert_identical(res, scaling_fits(study, bootstrap=0))
    with pytest.warns(DeprecationWarning, match="give the scaling fits"):
        fig = ml.plot.scaling_size(study, bootstrap=20)  # the collected study itself: fitted there, with a warning
    assert fig.axes[0].get_xscale() == "log"


def test_scaling_figures():
    study = sd.scaling_study()
    fig = ml.plot.scaling_accuracy(study)
    assert [a.get_title() for a in fig.axes] == ["N = 16 (16 x 16 px)", "N = 32 (32 x 32 px)", "N = 64 (64 x 64 px)"]
    for ax in fig.axes:
        assert len(ax.containers) == 2  # 2D only, 2D + stripes
        x, _, half = errorbar_data(ax.containers[0])
        assert x.tolist() == list(sd.KEEPS) and (half > 0).all()
    fig = ml.plot.scaling_size(scaling_fits(study, bootstrap=200))
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("slope 2 guide") and labels[2].startswith("case 2d: exponent 2.0")
    assert labels[3].startswith("case 2d+stripes: exponent 1.0")
    assert len(ax.containers) == 2 and ax.get_xlabel() == "image size N (px per side)"
    assert "bootstrap over seeds" in fig._suptitle.get_text()


def test_torus_figures():
    study = sd.torus_study()
    fig = ml.plot.torus_training(study)
    assert len(fig.axes) == 3
    x, y, half = errorbar_data(fig.axes[0].containers[0])
    np.testing.assert_allclose(y, 20 - 16 * x / 800, atol=1e-12)
    np.testing.assert_allclose(half, 0.2 / np.sqrt(3), atol=1e-12)
    assert len(fig.axes[0].lines) >= 5  # the learned line and its references dashed
    fig = ml.plot.torus_references(study)
    left, right = fig.axes
    assert len(left.containers) == 5 * 6  # 5 chord statistics x (learned + 5 references; plane left out)
    assert [t.get_text() for t in left.get_yticklabels()][0] == "x-on-y orthogonality"
    heights = [b.get_height() for b in right.patches]
    assert heights == pytest.approx([7 / 3, 0, 0, 0, 2, 2])


# -- the study report -------------------------------------------------------------------------------

@pytest.mark.parametrize("make, claim, titles", [
    (sd.lesion_study, "lesion", ["Accuracy vs the held-out band's width (claim 5)"]),
    (sd.interior_exterior_study, "interior-exterior", ["Held-out square's accuracy vs W, interior vs exterior "
                                                       "(claim 6)"]),
    (sd.composition_study, "composition", ["Band and intersection accuracy per training set (claim 3)"]),
    (sd.rim_study, "rim", ["Out-of-distribution accuracy with and without the rim (claim 4)"]),
    (sd.scaling_study, "scaling", ["Accuracy vs keep fraction per image size (claim 7)",
                                   "Training-set size for 60% accuracy vs N, log-log (claim 7)"]),
])
def test_study_plan_draws_the_claims_figures_first(make, claim, titles):
    study = make()
    assert study.attrs["claim"] == claim
    jobs = study_plan(study, {SCALING: scaling_fits(study, bootstrap=50)} if claim == "scaling" else None)
    head = jobs[:len(titles)]
    assert [j.entry.title for j in head] == titles and all(j.entry.section == "Claim" for j in head)
    for j in head:
        assert not j.entry.skipped and isinstance(j.draw(), Figure)
        assert "seed" in j.entry.caption
    assert any(j.entry.title.startswith("Terminal accuracy vs") for j in jobs[len(titles):]) or \
        not ml.plot.swept_names(study)


def test_study_plan_torus_and_unknown_claims():
    study = sd.torus_study()
    jobs = study_plan(study)
    assert [j.entry.stem for j in jobs[:5]] == ["01-torus_training", "02-torus_references", "03-chord_histograms",
                                                "04-pca_spectrum", "05-persistence_diagram"]
    assert isinstance(jobs[0].draw(), Figure) and isinstance(jobs[1].draw(), Figure)
    assert jobs[2].entry.skipped == "no done run has an analysis/default group"  # no study directory here
    study.attrs["claim"] = "flying"
    assert "unknown claim 'flying'" in study_plan(study)[0].entry.skipped
    study.attrs["claim"] = ""
    assert study_plan(study)[0].entry.section == "Study"  # a user study: the generic figures only


def test_report_of_a_study_with_a_claim(tiny_study, tmp_path):
    """The tiny study faked into a lesion study (its runs relabelled with band widths) and into a composition
    study (which it cannot support: skipped with the reason)."""
    root = tmp_path / "study"
    shutil.copytree(tiny_study, root, ignore=shutil.ignore_patterns("report"))
    manifest = json.loads((root / "study.json").read_text())
    manifest["keys"] = ["data.keep_fraction", "data.holdout.width"]
    for r in manifest["runs"]:
        r["swept"]["data.holdout.width"] = 2 + 2 * r["seed"]
    (root / "study.json").write_text(json.dumps({**manifest, "claim": "lesion", "scale": "cpu"}))
    report = ml.render_report(root, progress=False, formats=("png",), dpi=50)
    stems = [f.stem for f in report.rendered]
    assert stems[0] == "01-lesion_accuracy" and (report.out / "01-lesion_accuracy.png").read_bytes()[:4] == \
        b"\x89PNG"
    page = report.index.read_text()
    assert "Claim: <b>lesion</b> (scale cpu)" in page and "Accuracy vs the held-out band" in page
    saved = json.loads((report.out / "report.json").read_text())
    assert saved["claim"] == "lesion" and saved["scale"] == "cpu"
    (root / "study.json").write_text(json.dumps({**manifest, "claim": "composition"}))
    report = ml.render_report(root, progress=False, formats=("png",), dpi=50)
    first = report.figures[0]
    assert first.stem == "01-composition_accuracy" and "no run has a band_x" in first.skipped
    assert [f.stem for f in report.rendered][:1] == ["02-accuracy_vs_keep_fraction"]
    # torus: one analysed checkpoint per run (no curves); the references panel and the first run's own figures
    (root / "study.json").write_text(json.dumps({**manifest, "claim": "torus"}))
    report = ml.render_report(root, progress=False, formats=("png",), dpi=50)
    entries = {f.stem: f for f in report.figures}
    assert "fewer than 2 checkpoints" in entries["01-torus_training"].skipped
    assert not entries["02-torus_references"].skipped and not entries["03-chord_histograms"].skipped
    assert entries["03-chord_histograms"].title == "Orthogonality and parallelism histograms, run " \
        "keep_fraction=0.5,seed=0"
    assert "persistence diagram" in entries["05-persistence_diagram"].skipped  # bump runs measure no homology


def percolation_study():
    """Two bump widths x 7 keep fractions x 2 seeds on 16x16, accuracy a sigmoid with onset 0.45 (sigma 0.4 px)
    and 0.2 (sigma 0.6 px)."""
    import itertools

    runs = []
    for sig, k, s in itertools.product((0.4, 0.6), (0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8), (0, 1)):
        acc = 0.1 + 0.8 / (1 + np.exp(-(k - {0.4: 0.45, 0.6: 0.2}[sig]) / 0.05)) + 0.01 * s
        runs.append({"swept": {"data.sigma": sig, "data.keep_fraction": k, "data.image_size": 16}, "seed": s,
                     "accuracy_ood": acc, "accuracy": acc, "accuracy_id": 1.0})
    return sd.study_dataset(runs, ["data.sigma", "data.keep_fraction", "data.image_size"], "percolation",
                            "percolation")


def test_study_plan_scaling_without_stored_fits_says_how_to_compute_them():
    study = sd.scaling_study()
    jobs = study_plan(study)  # no study directory: nothing stored, nothing computed
    assert not jobs[0].entry.skipped and "crossings not computed" in jobs[0].entry.caption
    fig = jobs[0].draw()
    assert not [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_linestyle() == "--"]  # no crossing
    assert jobs[1].entry.skipped == "scaling fits not computed: run `manifold-lens study run STUDY --out DIR " \
        "(it fits after the runs)`"


def test_study_plan_percolation_without_a_stored_test_never_runs_it():
    study = percolation_study()
    jobs = study_plan(study)
    for j in jobs[:3]:
        assert j.entry.skipped == "percolation test not computed: run `manifold-lens percolate test DIR`"
    from manifold_lens.report.claim_plan import claim_summary
    assert "Percolation test verdict: <b>not computed</b>" in claim_summary(study)


@pytest.mark.slow
def test_study_plan_percolation_draws_the_stored_test():
    study = percolation_study()
    test = ml.percolation_test(study, n_boot=200)
    claims = {PERCOLATION_TEST: test}
    jobs = study_plan(study, claims)
    assert [j.entry.stem for j in jobs[:3]] == ["01-percolation_onsets", "02-lambda_c_comparison",
                                                "03-percolation_collapse"]
    verdict = test.attrs["verdict"]
    assert verdict in ("consistent", "inconsistent", "insufficient") and test.attrs["reason"]
    for j in jobs[:3]:
        assert not j.entry.skipped and f"Verdict: {verdict}." in j.entry.caption
        assert isinstance(j.draw(), Figure)
    from manifold_lens.report.claim_plan import claim_summary
    assert f"Percolation test verdict: <b>{verdict}</b>" in claim_summary(study, claims)


def test_left_out_names_runs_without_the_value():
    study = sd.composition_study()
    regions = ["region:band_x", "region:band_y", "region:intersection"]
    assert ml.report.figures.claims.runs_left_out(study, regions) == ""
    study["accuracy_region"][0, :] = np.nan  # a done run without the regions (e.g. evaluated before they existed)
    assert ml.report.figures.claims.runs_left_out(study, regions) == \
        "1 of 9 runs left out (no value: 1 done but without it): run0."
    fig = ml.plot.composition_accuracy(study)
    assert "8 of 9 runs with a value" in fig._suptitle.get_text()
    heights = [b.get_height() for b in fig.axes[0].patches][:3]
    np.testing.assert_allclose(heights, [0.1 + 0.01, 0.8, 0.9], atol=1e-12)  # sos-cross: seeds 1 and 2 left


# -- the memorising baseline (nearest training condition) ------------------------------------------------------

def with_baseline(study: xr.Dataset, ood, regions: dict) -> xr.Dataset:
    """The study with the per-run memorising baseline open_study collects: OOD and per region (functions of the
    run's width, or constants)."""
    study = study.copy()
    width = study["width"].values.astype(float) if "width" in study.coords else np.zeros(study.sizes["run"])
    study["baseline_nearest_accuracy_ood"] = ("run", np.asarray([ood(w) for w in width]))
    study["baseline_nearest_accuracy_id"] = ("run", np.ones(study.sizes["run"]))
    names = [str(r) for r in study["region_name"].values]
    study["baseline_nearest_accuracy_region"] = (("run", "region_name"), np.asarray(
        [[regions.get(r, lambda w: np.nan)(w) for r in names] for w in width]))
    return study


def test_lesion_and_composition_figures_draw_the_memorising_baseline():
    study = with_baseline(sd.lesion_study(), lambda w: 2 / w, {"band_x": lambda w: 2 / w, "train": lambda w: 1.0})
    fig = ml.plot.lesion_accuracy(study)
    for ax in fig.axes[:2]:  # OOD and the band: 2/w at every width, drawn at the seed mean of the width's runs
        (line,) = [a for a in ax.get_lines() if a.get_gid() == "baseline_nearest"]
        np.testing.assert_allclose(line.get_xdata(), [2, 4, 6, 8])
        np.testing.assert_allclose(line.get_ydata(), [1.0, 0.5, 1 / 3, 0.25])
        assert line.get_linestyle() == ":"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[-1] == "nearest training condition (memorising)"
    assert not ml.plot.lesion_accuracy(sd.lesion_study()).axes[0].get_legend().get_texts()[-1].get_text().startswith(
        "nearest")  # without the baseline: nothing drawn, nothing labelled
    comp = with_baseline(sd.composition_study(), lambda w: 0.4,
                         {"band_x": lambda w: 0.5, "band_y": lambda w: 0.5, "intersection": lambda w: 0.25,
                          "train": lambda w: 1.0})
    ax = ml.plot.composition_accuracy(comp).axes[0]
    ticks = [a for a in ax.get_lines() if a.get_gid() == "baseline_nearest"]
    assert len(ticks) == 3 * 4  # one per bar: 3 training sets x (band_x, band_y, intersection, trained)
    np.testing.assert_allclose(sorted(t.get_ydata()[0] for t in ticks), [0.25] * 3 + [0.5] * 6 + [1.0] * 3)
    assert "nearest training condition (memorising)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_the_run_figure_and_the_collected_study_carry_the_baseline(tiny_study):
    study = ml.open_study(tiny_study, percolation=False)
    ood, region = study["baseline_nearest_accuracy_ood"].values, study["baseline_nearest_accuracy_region"]
    assert ((ood > 0) & (ood <= 1)).all()  # every run holds conditions out (STUDY_SET)
    np.testing.assert_allclose(study["baseline_nearest_accuracy_id"].values, 1.0)
    for k, rid in enumerate(study["run_id"].values):  # the run's own stored values, per region
        ev = ml.read_results(tiny_study / "runs" / str(rid) / "results.zarr", "evaluation", "default")
        assert float(ev["baseline_nearest_accuracy_ood"]) == pytest.approx(ood[k], nan_ok=True)
        for r in ev["region_name"].values:
            assert float(region.sel(region_name=r)[k]) == float(ev["baseline_nearest_accuracy_region"].sel(
                region_name=r))
    from manifold_lens.report.numbers import key_numbers
    from manifold_lens.report.sources import load_sources

    rows = {k.quantity: k for k in key_numbers(load_sources(tiny_study / "runs" / str(rid) / "results.zarr"))}
    memo = float(ev["baseline_nearest_accuracy_ood"])
    assert rows["final accuracy, out-of-distribution"].references == \
        f"nearest training condition (memorising) {100 * memo:.1f}%"  # the run report's key numbers
    top = ml.plot.accuracy_curve(ev).axes[0]
    lines = [a for a in top.get_lines() if a.get_gid() == "baseline_nearest"]
    assert lines and all(np.ptp(a.get_ydata()) == 0 for a in lines)  # flat: the same at every checkpoint
    assert "nearest training condition (memorising)" in [t.get_text() for t in top.get_legend().get_texts()]
