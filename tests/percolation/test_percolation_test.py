"""The percolation test on synthetic study tables: the estimator, its bootstrap, the verdicts, design and figures.

The synthetic outcome is a binomial frequency (200 test sites) of 0.1 + 0.85 x the largest-cluster ratio of an
*independently* simulated lattice (its own Newman-Ziff passes, seed 123), so agreement is not built in: the test
must find it through its own prediction, noise and intervals.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import manifold_lens as ml
from manifold_lens.errors import ConfigError
from manifold_lens.percolation.crosswidth import collapse, errors_in_both
from manifold_lens.percolation.design import design_keep_fractions, lattice_curves
from manifold_lens.percolation.sigmoid import bootstrap_onsets, fit_sigmoid, onset, sigmoid
from manifold_lens.report.figures import FigureDataError
from manifold_lens.summary import design_lines, percolation_test_lines

SIGMAS = (0.35, 0.5, 0.7)
LAM = np.round(np.linspace(0.05, 1.0, 14), 3)
N_BOOT = 100


def truth(sigma, lam, shift=0.0):
    """Largest-cluster ratio of a 16 x 16 pixel lattice at lam - shift, from its own 200 passes (seed 123)."""
    curves, _ = lattice_curves(sigma, 16, 1.0, 0.005, "pixel", np.clip(lam - shift, 0.01, 1), 200,
                               np.random.default_rng(123))
    return curves.mean(1)


def table(outcome=lambda lam, cluster: 0.1 + 0.85 * cluster, shift=0.0, sigmas=SIGMAS, seeds=3, lam=LAM,
          n_test=200, seed=7, **coords) -> xr.Dataset:
    """A study table (dim run): per sigma, keep fraction and seed, accuracy_ood ~ Binomial(n_test, outcome)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in sigmas:
        c = truth(s, lam, shift)
        for k, v in enumerate(lam):
            for sd in range(seeds):
                p = float(np.clip(outcome(v, c[k]), 0, 1))
                rows.append((s, v, sd, rng.binomial(n_test, p) / n_test, v))
    a = np.array(rows)
    n = len(a)
    return xr.Dataset({"accuracy_ood": ("run", a[:, 3]), "accuracy": ("run", a[:, 4])},
                      coords={"sigma": ("run", a[:, 0]), "keep_fraction": ("run", a[:, 1]),
                              "seed": ("run", a[:, 2].astype(int)), "image_size": ("run", np.full(n, 16)),
                              **{k: ("run", np.full(n, v)) for k, v in coords.items()}})


@pytest.fixture(scope="module")
def consistent():
    return ml.percolation_test(table(), n_boot=N_BOOT)


# -- the estimator ----------------------------------------------------------------------------

def test_noiseless_sigmoid_recovers_its_parameters():
    lam = np.linspace(0.05, 0.95, 10)
    for p in [(0.1, 0.9, 0.37, 0.06), (0.0, 1.0, 0.6, 0.02), (0.3, 0.5, 0.2, 0.1)]:
        got = fit_sigmoid(lam, sigmoid(lam, *p))
        np.testing.assert_allclose(got, p, atol=1e-6)
    fit = onset(lam, sigmoid(lam, 0.1, 0.9, 0.37, 0.06))
    assert fit.ok and fit.lambda_c == pytest.approx(0.37, abs=1e-6)


@pytest.mark.parametrize("lam,y,why", [
    ([0.1, 0.5], [0.0, 1.0], "needs >= 3 keep fractions, got 2"),
    ([0.1, 0.3, 0.5, 0.7], [0.5, 0.52, 0.49, 0.51], "changes by < 0.1"),
    ([0.1, 0.3, 0.5, 0.7], [0.9, 0.6, 0.3, 0.1], "fitted curve falls"),
    ([0.1, 0.2, 0.3, 0.4], sigmoid(np.array([0.1, 0.2, 0.3, 0.4]), 0.0, 1.0, 0.45, 0.05), "outside the measured keep"),
])
def test_no_onset_is_invented(lam, y, why):
    fit = onset(lam, y)
    assert np.isnan(fit.lambda_c) and why in fit.status


def test_intervals_shrink_with_more_seeds():
    lam = np.linspace(0.1, 0.9, 9)
    widths = []
    for seeds in (2, 16):
        rng = np.random.default_rng(1)
        x = np.repeat(lam, seeds)
        y = rng.binomial(100, sigmoid(x, 0.1, 0.9, 0.45, 0.05)) / 100
        b = bootstrap_onsets(x, y, 300, np.random.default_rng(0))
        assert b.low <= b.fit.lambda_c <= b.high and b.failed == 0
        widths.append(b.high - b.low)
    # standard errors fall as 1/sqrt(seeds): 8x the seeds, about 1/2.8 the width; allow sampling slack
    assert widths[1] < 0.6 * widths[0]


def test_errors_in_both_is_exact_on_a_line_and_ols_without_x_errors():
    x = np.array([0.1, 0.3, 0.6])
    np.testing.assert_allclose(errors_in_both(x, 2 * x + 0.1, [0.01] * 3, [0.02] * 3), (2.0, 0.1), atol=1e-8)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 50)
    y = 0.5 * x + 0.2 + rng.normal(0, 0.01, 50)
    slope, intercept = errors_in_both(x, y, np.full(50, 1e-4), np.full(50, 0.01))
    np.testing.assert_allclose([slope, intercept], np.polyfit(x, y, 1), atol=1e-5)


def test_collapse_prefers_one_curve_of_cluster_size_when_it_holds():
    rng = np.random.default_rng(0)
    lam = np.tile(np.linspace(0.05, 1, 10), 6)
    group = np.repeat([0, 1], 30)
    cluster = np.where(group == 0, truth(0.4, lam[:30]).repeat(1).tolist() * 2, truth(0.7, lam[:30]).tolist() * 2)
    y = np.clip(0.1 + 0.85 * cluster + rng.normal(0, 0.02, 60), 0, 1)
    assert collapse(cluster, lam, group, y).collapse == "yes"
    y_lam = np.clip(np.where(group == 0, lam, lam ** 3) + rng.normal(0, 0.02, 60), 0, 1)  # no function of cluster
    res = collapse(cluster, lam, group, y_lam)
    assert res.collapse == "no" and res.loglik_single < res.loglik_separate


# -- the verdicts ---------------------------------------------------------------------------------

def test_consistent_when_accuracy_follows_an_independent_cluster_curve(consistent):
    r = consistent
    assert r.attrs["verdict"] == "consistent", r.attrs["reason"]
    assert r.sizes == {"sigma": 3, "bound": 2, "run": 126, "lambda_grid": 100, "cluster_grid": 101,
                       "replicate": N_BOOT}
    # 16 x 16 pixel lattice: sigmoid midpoints 0.578 (sigma 0.35, nearest neighbours), 0.28, 0.11 (design values)
    np.testing.assert_allclose(r.lambda_c_predicted, [0.578, 0.28, 0.105], atol=0.02)
    # within 0.03: about two steps of the profile's lambda_c grid (0.012) and under half the keep-fraction spacing
    np.testing.assert_allclose(r.lambda_c_measured, r.lambda_c_predicted, atol=0.03)
    assert bool(r.intervals_overlap.all()) and list(r.status.values) == ["ok"] * 3
    lo, hi = r.slope_interval.values
    assert lo <= 1 <= hi  # reported beside the verdict, not deciding it
    assert r.intercept_interval.values[0] <= 0 <= r.intercept_interval.values[1]
    assert str(r.collapse.values) == "yes"
    assert r.attrs["outcome"] == "accuracy_ood" and r.attrs["overlap"] == "pixel" and r.attrs["n_boot"] == N_BOOT
    assert "ensemble" in str(r.prediction_source.values[0]) and "manifold-lens" in r.attrs["versions"]


def test_same_seed_same_result(consistent):
    again = ml.percolation_test(table(), n_boot=N_BOOT)
    xr.testing.assert_identical(again.drop_attrs(), consistent.drop_attrs())
    other = ml.percolation_test(table(), n_boot=N_BOOT, seed=1)  # the seed moves the draws, not the profile
    assert not np.allclose(other.lambda_c_measured_boot, consistent.lambda_c_measured_boot)
    np.testing.assert_allclose(other.lambda_c_measured_interval, consistent.lambda_c_measured_interval)


def test_level_sets_the_intervals_and_is_recorded(consistent):
    narrow = ml.percolation_test(table(), n_boot=N_BOOT, level=0.8, progress=False)
    for v in ("lambda_c_measured_interval", "lambda_c_predicted_interval"):
        wide, near = consistent[v].values, narrow[v].values  # a lower level cuts the same profile higher
        assert np.all(near[..., 0] >= wide[..., 0]) and np.all(near[..., 1] <= wide[..., 1])
        # never narrower than the keep fractions that bracket the onset
        br = narrow[v.replace("interval", "bracket")].values
        assert np.all(near[:, 0] <= br[:, 0]) and np.all(near[:, 1] >= br[:, 1])
    assert narrow.attrs["level"] == 0.8 and consistent.attrs["level"] == 0.95
    assert narrow.lambda_c_measured_interval.attrs["long_name"].startswith("80% profile-likelihood interval")
    assert "80% profile likelihood" in narrow.attrs["intervals"]


def test_shift_by_02_is_inconsistent():
    r = ml.percolation_test(table(shift=0.2), n_boot=N_BOOT)
    assert r.attrs["verdict"] == "inconsistent"
    assert not r.intervals_overlap.any()
    np.testing.assert_allclose(r.lambda_c_measured - r.lambda_c_predicted, 0.2, atol=0.03)
    assert "miss the predicted" in r.attrs["reason"] and "intercept" in r.attrs["reason"]


def test_flat_outcome_is_insufficient_and_prints_no_regression():
    r = ml.percolation_test(table(outcome=lambda lam, c: 0.5), n_boot=N_BOOT)
    assert r.attrs["verdict"] == "insufficient" and "no onset" in r.attrs["reason"]
    assert np.isnan(r.lambda_c_measured).all() and np.isfinite(r.lambda_c_predicted).all()
    assert str(r.collapse.values) == "undetermined"
    lines = percolation_test_lines(r)
    assert "not determined" in "\n".join(lines) and "slope" not in "\n".join(lines)
    assert lines[-1].startswith("verdict: insufficient")


def test_memorisation_is_not_an_onset():
    """Overall accuracy = lambda (training sites right, unsampled wrong): OOD flat at chance."""
    mem = table(outcome=lambda lam, c: 0.02)
    ood = ml.percolation_test(mem, n_boot=N_BOOT)
    assert ood.attrs["verdict"] == "insufficient"
    overall = ml.percolation_test(mem, outcome="accuracy", n_boot=N_BOOT)
    # a straight line has a midpoint (0.5 at every width): slope 0, never "consistent"
    assert overall.attrs["verdict"] == "inconsistent"
    np.testing.assert_allclose(overall.lambda_c_measured, 0.5, atol=0.02)  # y = lambda: floor 0, ceiling 1
    assert overall.slope_interval.values[1] < 0.5


def test_one_width_and_complete_graph_are_insufficient():
    one = ml.percolation_test(table(sigmas=(0.5,)), n_boot=N_BOOT)
    assert one.attrs["verdict"] == "insufficient" and "one bump width only" in one.attrs["reason"]
    sos = ml.percolation_test(table(sigmas=(0.5, 0.7), family="sos"), n_boot=N_BOOT)
    assert sos.attrs["verdict"] == "insufficient" and "complete" in sos.attrs["reason"]
    assert np.isnan(sos.lambda_c_predicted).all() and sos.complete_graph.all()
    assert "complete" in str(sos.status.values[0])


def test_too_few_keep_fractions_is_insufficient():
    r = ml.percolation_test(table(lam=np.array([0.2, 0.6])), n_boot=N_BOOT)
    assert r.attrs["verdict"] == "insufficient" and "has 2 keep fractions" in r.attrs["reason"]


def test_one_seed_gives_no_interval_and_no_verdict_on_it():
    # one run per keep fraction: every bootstrap resample is the sample itself, so an interval of width 0 would
    # claim a certainty the data do not have; the onset is reported without an interval and not judged
    r = ml.percolation_test(table(seeds=1), n_boot=N_BOOT)
    assert r.attrs["verdict"] == "insufficient" and "one realisation per keep fraction" in r.attrs["reason"]
    assert np.isfinite(r["lambda_c_measured"]).all() and np.isnan(r["lambda_c_measured_interval"]).all()


def test_dropped_runs_are_counted():
    t = table(sigmas=(0.5, 0.7))
    status = np.array(["done"] * t.sizes["run"], dtype=object)
    status[:3] = "failed"
    acc = t.accuracy_ood.values.copy()
    acc[5] = np.nan
    t = t.assign(accuracy_ood=("run", acc)).assign_coords(status=("run", status))
    r = ml.percolation_test(t, n_boot=N_BOOT)
    assert r.attrs["dropped_runs"] == 4 and r.sizes["run"] == t.sizes["run"] - 4
    assert any("status failed" in d for d in r.attrs["dropped"])


@pytest.mark.parametrize("change,message", [
    (lambda t: t.drop_vars("image_size"), "runs: no image_size per run"),
    (lambda t: t.drop_vars(["sigma", "keep_fraction"]), "runs: no sigma, keep_fraction per run"),
    (lambda t: t.drop_vars("accuracy_ood"), "outcome = 'accuracy_ood': the runs have no such per-run variable; "
                                            "present: accuracy"),
    (lambda t: t.assign(accuracy_ood=t.accuracy_ood * 100), "must lie in [0, 1]"),
    (lambda t: t.rename(run="trial"), "runs: give an xarray Dataset with dim 'run'"),
])
def test_bad_tables_are_one_line_errors(change, message):
    with pytest.raises(ConfigError) as e:
        ml.percolation_test(change(table(sigmas=(0.5,), seeds=1)), n_boot=N_BOOT)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("kwargs,message", [({"overlap": "exact"}, "overlap = 'exact'"),
                                            ({"n_boot": 5}, "n_boot = 5"), ({"threshold": 2}, "threshold = 2")])
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        ml.percolation_test(table(sigmas=(0.5,), seeds=1), **kwargs)


# -- design ----------------------------------------------------------------------------------------

def test_design_predicts_onsets_and_concentrates_keep_fractions():
    d = design_keep_fractions([0.1, 0.5, 1.5], 16)
    r = d.sel(sigma=0.5)
    # the exact coverage graph of the quick dataset at 16 px (frame edges included) gives 0.277 with the same
    # estimator; 200 passes put the lattice value within 0.01 of it
    assert float(r.lambda_c_predicted) == pytest.approx(0.28, abs=0.01)
    lam = r.keep_fractions.values
    assert len(lam) == 8 and np.all(np.diff(lam) > 0) and lam[0] >= 0.03 and lam[-1] <= 1
    lc = float(r.lambda_c_predicted)
    assert np.sum(np.abs(lam - lc) < 0.1) >= 4  # denser around the onset ...
    assert lam[0] <= lc - 0.2 and lam[-1] >= max(0.75, lc + 0.25)  # ... and spanning well below and above it
    assert np.sum(lam > lc + 0.15) >= 2  # an onset shifted by +0.2 still has keep fractions around it
    assert "never connects" in str(d.warning.sel(sigma=0.1).values) and np.isnan(d.keep_fractions.sel(sigma=0.1)).all()
    assert "always percolates" in str(d.warning.sel(sigma=1.5).values)
    text = "\n".join(design_lines(d))
    assert '"data.keep_fraction" = [' in text and "predicted lambda_c = 0.28" in text


def test_design_matches_the_datasets_exact_coverage_graph():
    from manifold_lens.config import load_config
    from manifold_lens.percolation import dataset_percolation

    lam = np.round(np.arange(5, 101) / 100, 2)
    p = dataset_percolation(load_config("quick", overrides=["data.image_size=16", "data.sigma=0.4"]),
                            keep_fractions=lam, trials=200, progress=False)
    exact = onset(lam, p.largest_cluster_ratio.mean("trial").values).lambda_c
    assert float(design_keep_fractions([0.4], 16).lambda_c_predicted[0]) == pytest.approx(exact, abs=0.01)


# -- figures -----------------------------------------------------------------------------------------

def test_figures_draw_the_test(consistent, tmp_path):
    from matplotlib.figure import Figure

    for name in ("percolation_onsets", "lambda_c_comparison", "percolation_collapse", "onset_comparison"):
        fig = getattr(ml.plot, name)(consistent)
        assert isinstance(fig, Figure)
        fig.savefig(tmp_path / f"{name}.png", dpi=40)
    assert len([a for a in ml.plot.percolation_onsets(consistent).axes if a.get_visible()]) == 3
    with pytest.raises(FigureDataError, match="no outcome"):
        ml.plot.percolation_collapse(consistent.drop_vars("outcome"))
