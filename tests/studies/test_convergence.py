"""open_study's convergence variables: converged (accuracy_id against min_train_accuracy, False where NaN),
steps_trained, and the samples scored per region (the binomial n of the accuracies)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import zarr

import manifold_lens as ml
from manifold_lens.errors import ConfigError
from manifold_lens.stores import open_run, read_group
from manifold_lens.studies import layout
from manifold_lens.studies.collect import RESERVED, coordinate_names


def test_converged_against_the_threshold_and_nan_is_not_converged(failed_study):
    runs = ml.open_study(failed_study)
    acc = runs["accuracy_id"].values
    done = np.isfinite(acc)
    assert done.sum() == 4 and not done[4:].any()  # the failed and the missing run have no evaluation
    assert runs["converged"].dtype == bool and runs["converged"].attrs["min_train_accuracy"] == 0.9
    np.testing.assert_array_equal(runs["converged"].values, done & (np.nan_to_num(acc) >= 0.9))
    # a threshold at or below every accuracy: the evaluated runs converge, the NaN ones still do not
    low = ml.open_study(failed_study, min_train_accuracy=float(np.nanmin(acc)))
    assert low["converged"].values.tolist() == [True] * 4 + [False] * 2
    above = float(np.nanmax(acc)) + 1e-9
    if above <= 1:
        assert not ml.open_study(failed_study, min_train_accuracy=above)["converged"].values.any()


def test_steps_trained_and_samples_scored(failed_study):
    runs = ml.open_study(failed_study, percolation=False)
    assert runs["steps_trained"].values.tolist() == [12] * 4 + [-1, -1]  # TINY trains 12 steps
    for k, rid in enumerate(runs["run_id"].values[:4]):
        ev = read_group(layout.run_results(failed_study, rid), "evaluation", "default")
        in_train = ev["in_train"].values.astype(bool)
        k_samples = ev.sizes["sample"]
        assert runs["scored_id"].values[k] == in_train.sum() * k_samples
        assert runs["scored_ood"].values[k] == (~in_train).sum() * k_samples
        # the binomial n reproduces the stored accuracy from the per-sample scores
        correct = ev["correct"].isel(checkpoint=-1).values
        assert correct[in_train].sum() / runs["scored_id"].values[k] == pytest.approx(runs["accuracy_id"].values[k])
    assert runs["scored_id"].values[4:].tolist() == [-1, -1]


def test_recorded_steps_trained_wins_over_the_last_checkpoint(tiny_study, tmp_path):
    root = tmp_path / "study"
    shutil.copytree(tiny_study, root)
    rid = json.loads((root / "study.json").read_text())["runs"][0]["run_id"]
    store = layout.run_store(root, rid)
    zarr.open_group(store, mode="r+").attrs["steps_trained"] = 7  # as a run stopped by train.until_accuracy
    assert open_run(store).attrs["steps_trained"] == 7
    assert ml.open_study(root, percolation=False)["steps_trained"].values.tolist()[:2] == [7, 12]


def test_names_are_reserved_and_the_threshold_checked(tiny_study):
    assert coordinate_names(["train.steps_trained", "data.converged"]) == {
        "train.steps_trained": "train.steps_trained", "data.converged": "data.converged"}
    assert {"converged", "steps_trained", "scored_id", "scored_ood"} <= set(RESERVED)
    with pytest.raises(ConfigError, match=r"min_train_accuracy = 1.5: must be in \[0, 1\]"):
        ml.open_study(tiny_study, min_train_accuracy=1.5)
