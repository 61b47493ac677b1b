"""The retired comparison (percolation_vs_accuracy, fit_onset): still working, warning, on the one estimator.

Both are deprecated (DeprecationWarning when called; percolation_test and
percolation.sigmoid replace them); these tests check that they still work.

The run stores are created with the run writer and no checkpoints (the
comparison reads only their configs); their evaluation results follow the
evaluation contract (group ``evaluation/<name>``, ``accuracy`` per checkpoint,
``source_run``) with accuracies drawn from a known logistic, so the fit has a
known answer (``make_run`` and ``fake_evaluation``, in ``tests.builders``).
``test_cli_end_to_end_with_trained_runs`` (slow) uses real training and the
real evaluate module instead.
"""

import numpy as np
import pytest
import xarray as xr

from manifold_lens.config import load_config
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.errors import ConfigError, StoreError
from manifold_lens.percolation.onset import fit_onset, logistic, percolation_vs_accuracy
from manifold_lens.percolation import dataset_percolation
from manifold_lens.stores import write_results
from manifold_lens.stores import RunWriter
from manifold_lens.percolation import sigmoid
from tests.builders import fake_evaluation, make_run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the retired names, on purpose

TRUE_ONSET = {0.6: 0.30, 1.0: 0.12}
KEEP = [0.05, 0.1, 0.2, 0.3, 0.5, 0.8]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Runs at two sigmas x six keep fractions, one shared results store with their evaluations."""
    root = tmp_path_factory.mktemp("sweep")
    runs = []
    store = root / "evals.zarr"
    for sigma, onset in TRUE_ONSET.items():
        for k, keep in enumerate(KEEP):
            run = make_run(root / f"s{sigma}_k{keep}.zarr", sigma, keep, seed=k)
            write_results(store, "evaluation", f"s{sigma}_k{keep}",
                          fake_evaluation(run, logistic(keep, 0.9, onset, 0.04)))
            runs.append(run)
    return runs, store


def test_fit_onset_recovers_a_known_logistic():
    lam = np.array(KEEP)
    fit = fit_onset(lam, logistic(lam, 0.8, 0.27, 0.05))
    assert fit.status == "ok"
    assert fit.lambda_c == pytest.approx(0.27, abs=1e-4) and fit.top == pytest.approx(0.8, abs=1e-4)
    noisy = logistic(lam, 0.8, 0.27, 0.05) + np.array([0.01, -0.02, 0.015, -0.01, 0.02, -0.015])
    fit = fit_onset(lam, noisy)
    assert abs(fit.lambda_c - 0.27) < 0.03 and fit.lambda_c_stderr > 0


def test_retired_names_warn_and_give_the_one_estimators_numbers(sweep):
    lam = np.array(KEEP)
    acc = logistic(lam, 0.8, 0.27, 0.05) + np.array([0.01, -0.02, 0.015, -0.01, 0.02, -0.015])
    with pytest.warns(DeprecationWarning, match="fit_onset is deprecated"):
        old = fit_onset(lam, acc)
    new = sigmoid.onset(lam, acc, min_rise=0.05)
    assert (old.lambda_c, old.width, old.top, old.status) == (new.lambda_c, new.width, new.ceiling, new.status)
    assert old.lambda_c_stderr == sigmoid.midpoint_stderr(lam, acc, new) and 0 < old.lambda_c_stderr < 0.05
    runs, store = sweep
    with pytest.warns(DeprecationWarning, match="use percolation_test"):
        res = percolation_vs_accuracy(runs[:6], [store], trials=2, keep_fractions=[0.5], progress=False)
    want = sigmoid.onset(KEEP, res.terminal_accuracy.values, min_rise=0.05)
    assert float(res.lambda_c_measured[0]) == want.lambda_c == pytest.approx(0.30, abs=1e-3)
    with pytest.warns(DeprecationWarning, match=r"method=\.\.\.\) is deprecated"):
        again = percolation_vs_accuracy(runs[:6], [store], trials=2, keep_fractions=[0.5], method="pixels",
                                        progress=False)
    xr.testing.assert_identical(again.drop_attrs(), res.drop_attrs())
    assert again.attrs["overlap"] == "pixel" and again.attrs["method"] == "pixels"


@pytest.mark.parametrize("lam,acc,why", [
    ([0.1, 0.5], [0.0, 0.9], ">= 3 keep fractions"),
    ([0.1, 0.3, 0.5], [0.2, 0.21, 0.2], "no onset"),
    ([0.4, 0.6, 0.8], [0.9, 0.9, 0.89], "no onset"),
    ([0.1, 0.2, 0.3, 0.4], logistic(np.array([0.1, 0.2, 0.3, 0.4]), 0.9, 0.6, 0.1),
     "outside the measured keep fractions"),  # only the foot of an onset at 0.6 was measured
])
def test_fit_onset_refuses_to_invent_an_onset(lam, acc, why):
    fit = fit_onset(lam, acc)
    assert np.isnan(fit.lambda_c) and why in fit.status


def test_percolation_vs_accuracy(sweep):
    runs, store = sweep
    res = percolation_vs_accuracy(runs, [store], trials=10, keep_fractions=[0.05, 0.1, 0.2, 0.5, 1.0], progress=False)
    assert res.sizes == {"sigma": 2, "run": 12, "keep_fraction": 5}
    np.testing.assert_allclose(res.sigma, [0.6, 1.0])
    # measured onsets: the logistic the accuracies were drawn from
    np.testing.assert_allclose(res.lambda_c_measured, [0.30, 0.12], atol=1e-3)
    assert list(res.fit_status.values) == ["ok", "ok"]
    # terminal accuracy is the last checkpoint's
    first = res.isel(run=0)
    assert float(first.terminal_accuracy) == pytest.approx(logistic(KEEP[0], 0.9, 0.30, 0.04))
    assert int(first.terminal_step) == 100 and int(first.run_last_step) == -1  # no checkpoints in these stores
    # predicted onsets come from each sigma's own coverage graph, and fall as sigma grows
    cfg = load_config("quick", overrides=["data.image_size=16", "data.sigma=1.0"])
    want = dataset_percolation(cfg, keep_fractions=[0.05, 0.1, 0.2, 0.5, 1.0], trials=10, progress=False)
    assert float(res.lambda_c_predicted.sel(sigma=1.0)) == pytest.approx(float(want.lambda_c))
    np.testing.assert_allclose(res.largest_cluster_ratio.sel(sigma=1.0), want.largest_cluster_ratio.mean("trial"))
    assert float(res.lambda_c_predicted.sel(sigma=0.6)) > float(res.lambda_c_predicted.sel(sigma=1.0))
    assert np.all(np.diff(res.largest_cluster_fraction.sel(sigma=0.6)) >= 0)
    for key in ("threshold", "overlap", "method", "metric", "trials"):
        assert key in res.attrs


def test_pairing_by_order_and_errors(sweep, tmp_path):
    runs, store = sweep
    # one store per run, same order: each store holds only that run's evaluation
    stores = []
    for k, run in enumerate(runs[:3]):
        s = tmp_path / f"e{k}.zarr"
        write_results(s, "evaluation", "ddim50", fake_evaluation(run, 0.1 * (k + 1)))
        stores.append(s)
    res = percolation_vs_accuracy(runs[:3], stores, trials=2, keep_fractions=[0.5], progress=False)
    np.testing.assert_allclose(res.terminal_accuracy, [0.1, 0.2, 0.3])
    with pytest.raises(ConfigError, match="one results store per run"):
        percolation_vs_accuracy(runs[:3], stores[:2], progress=False)
    with pytest.raises(StoreError, match="no evaluation of run"):
        percolation_vs_accuracy(runs[:2], stores[::-1][1:], progress=False)  # swapped pairing is caught
    # naming the group skips the source_run match
    res = percolation_vs_accuracy([runs[1]], [stores[0]], evaluation="ddim50", trials=2, keep_fractions=[0.5],
                                  progress=False)
    assert float(res.terminal_accuracy[0]) == pytest.approx(0.1)
    with pytest.raises(StoreError, match="several evaluations"):
        write_results(stores[0], "evaluation", "again", fake_evaluation(runs[0], 0.5))
        percolation_vs_accuracy([runs[0]], [stores[0]], progress=False)
    with pytest.raises(ConfigError, match="metric"):
        percolation_vs_accuracy(runs[:1], stores[:1], metric="loss", progress=False)


def test_runs_of_one_sigma_must_share_the_data_config(sweep, tmp_path):
    runs, store = sweep
    odd = tmp_path / "odd.zarr"
    cfg = load_config("quick", overrides=["data.image_size=16", "data.sigma=0.6", "data.spacing=2.0"])
    RunWriter.create(odd, cfg, SyntheticDataset(cfg), param_names=[])
    write_results(store, "evaluation", "odd", fake_evaluation(odd, 0.5))
    with pytest.raises(ConfigError, match="differ in data.spacing"):
        percolation_vs_accuracy([runs[0], odd], [store], progress=False)
