"""The table the percolation test reads: per-run configs and run stores come with the table, not a study directory.

A collected study carries each run's resolved config (``run_config``, JSON) and
its run store (``run_store``); a plain table may pass them as ``configs=`` and
``run_stores=``. Either way the test predicts from the runs' own training sets
(run stores) or the exact coverage graph of their config, and reads values the
table lacks as coordinates (here sigma and image_size) from the configs.
"""

import json

import numpy as np
import pytest
import xarray as xr

from manifold_lens.config import load_config
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.errors import ConfigError
from manifold_lens.percolation import coverage_graph, largest_cluster, percolation_test
from manifold_lens.stores import RunWriter

SIGMAS, KEEPS, SEEDS = (0.4, 0.7), (0.05, 0.1, 0.2, 0.3, 0.45, 0.6), (0, 1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run stores without checkpoints (their training sets are subsampled with data.seed = seed) and a table of
    them whose accuracy_ood is 0.1 + 0.85 x each training set's largest-cluster ratio (+ noise, sd 0.02)."""
    root = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    rows = []
    for s in SIGMAS:
        for k in KEEPS:
            for seed in SEEDS:
                cfg = load_config("quick", overrides=["data.image_size=16", f"data.sigma={s}",
                                                      f"data.keep_fraction={k}", f"data.seed={seed}"])
                data = SyntheticDataset(cfg)
                path = root / f"s{s}-k{k}-{seed}.zarr"
                RunWriter.create(path, cfg, data, param_names=[])
                c = largest_cluster(coverage_graph(data)).size / len(data.train_index)
                rows.append((f"s{s}-k{k}-{seed}", k, seed, float(np.clip(0.1 + 0.85 * c + rng.normal(0, 0.02), 0, 1)),
                             json.dumps(cfg.to_dict()), str(path), c))
    ids, keep, seed, acc, cfgs, paths, clusters = zip(*rows)
    table = xr.Dataset({"accuracy_ood": ("run", list(acc)), "run_config": ("run", list(cfgs)),
                        "run_store": ("run", list(paths))},
                       coords={"run": np.arange(len(ids)), "run_id": ("run", list(ids)),
                               "keep_fraction": ("run", list(keep)), "seed": ("run", list(seed))})
    return table, np.array(clusters)


def test_run_stores_give_each_runs_own_training_set(runs):
    table, clusters = runs
    ds = percolation_test(table, n_boot=30, progress=False)
    assert list(ds.prediction_source.values) == ["the runs' own training sets"] * 2
    np.testing.assert_array_equal(ds.predicted_cluster.values, clusters)
    np.testing.assert_allclose(ds.sigma, SIGMAS)
    # the same from the arguments of a plain table
    plain = table.drop_vars(["run_config", "run_store"])
    again = percolation_test(plain, n_boot=30, progress=False,
                             configs={i: json.loads(c) for i, c in zip(table.run_id.values, table.run_config.values)},
                             run_stores=dict(zip(table.run_id.values, table.run_store.values)))
    xr.testing.assert_identical(again.drop_attrs(), ds.drop_attrs())


def test_configs_alone_give_the_exact_coverage_graphs_ensemble(runs):
    table, _ = runs
    ds = percolation_test(table.drop_vars("run_store"), n_boot=30, progress=False)
    assert all(str(v).startswith("ensemble of 100 Newman-Ziff passes") for v in ds.prediction_source.values)
    # the quick dataset at 16 px: sigmoid midpoints 0.40 (sigma 0.4) and 0.11 (sigma 0.7) on its exact coverage graph
    np.testing.assert_allclose(ds.lambda_c_predicted, [0.40, 0.11], atol=0.025)


def test_without_configs_the_missing_values_are_a_one_line_error(runs):
    table, _ = runs
    with pytest.raises(ConfigError) as e:
        percolation_test(table.drop_vars(["run_config", "run_store"]), n_boot=30, progress=False)
    assert str(e.value).startswith("runs: no sigma, image_size per run") and "run_config" in str(e.value)
    assert "configs=" in str(e.value) and "\n" not in str(e.value)
