"""Scores and phases on constructed samples, and the sample -> locate -> score pipeline with exact models."""

import numpy as np
import pytest
import torch
import xarray as xr

from manifold_lens.config import load_config
from manifold_lens.datasets import SyntheticDataset, render
from manifold_lens.errors import ManifoldLensError
from manifold_lens.evaluation import (aggregate, evaluate_model, evaluation_name, score, scored_axes,
                                      select_conditions)
from manifold_lens.stores import select_checkpoints
from manifold_lens.diffusion import NoiseSchedule

SCHEDULE = NoiseSchedule(1000)


def test_score_and_phases_on_constructed_samples():
    x = np.array([5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0])
    y = np.full(7, 9.0)
    x_hat = np.array([5.9, 6.2, 5.0, 5.0, np.nan, 4.0, 5.0])
    y_hat = np.array([8.5, 9.0, 9.0, 9.0, np.nan, 9.0, 10.01])
    n = np.array([1, 1, 0, 2, 0, 1, 1])
    correct, phase = score(x_hat, y_hat, n, x, y)
    assert correct.tolist() == [True, False, False, False, False, True, False]
    assert phase.tolist() == ["C", "B", "A", "A", "A", "C", "B"]
    correct, _ = score(x_hat, y_hat, n, x, y, tolerance=1.5)
    assert correct.tolist() == [True, True, False, False, False, True, True]


def test_periodic_errors_wrap_around_the_torus():
    x_hat, x = np.array([31.6, 0.4, 16.0]), np.array([0.2, 31.5, 0.0])
    periodic, _ = score(x_hat, np.zeros(3), np.ones(3), x, np.zeros(3), periodic=True, image_size=32)
    flat, _ = score(x_hat, np.zeros(3), np.ones(3), x, np.zeros(3), periodic=False, image_size=32)
    assert periodic.tolist() == [True, True, False] and flat.tolist() == [False, False, False]


def test_one_dimensional_conditions_score_only_their_coordinate():
    axes = scored_axes([3.0, 3.0, -2.0, 3.0, 3.0], [-4.0, 40.0, 5.0, 5.0, -4.0],
                       ["stripes", "stripes", "stripes", "stripes", "sos"], 32)
    assert axes.tolist() == ["x", "x", "y", "xy", "xy"]
    correct, phase = score([3.2, 3.2, np.nan, 3.2, 3.2], [np.nan, 12.0, 5.3, np.nan, np.nan], np.ones(5),
                           [3.0, 3.0, -2.0, 3.0, 3.0], [-4.0, 40.0, 5.0, 5.0, -4.0], axes=axes)
    assert correct.tolist() == [True, True, True, False, False]
    assert phase.tolist() == ["C", "C", "C", "B", "B"]


def constructed(correct, in_train, region):
    correct = np.asarray(correct, dtype=bool)
    n = np.where(correct, 1, 0)
    n[~correct & (np.arange(correct.size).reshape(correct.shape) % 2 == 0)] = 1  # some wrong places: phase B
    phase = np.where(n != 1, "A", np.where(correct, "C", "B")).astype(object)
    dims = ("checkpoint", "condition", "sample")
    return xr.Dataset({"correct": (dims, correct), "phase": (dims, phase)},
                      coords={"checkpoint": [0, 10], "in_train": ("condition", in_train),
                              "region": ("condition", np.array(region, dtype=object))})


def test_aggregates_by_distribution_region_and_phase():
    c = np.zeros((2, 4, 2), bool)
    c[1] = [[1, 1], [1, 0], [0, 0], [1, 1]]
    ds = aggregate(constructed(c, [True, True, False, False], ["train", "train", "band_x", "intersection"]))
    np.testing.assert_allclose(ds.accuracy.values, [0.0, 5 / 8])
    np.testing.assert_allclose(ds.accuracy_id.values, [0.0, 3 / 4])
    np.testing.assert_allclose(ds.accuracy_ood.values, [0.0, 2 / 4])
    np.testing.assert_allclose(ds.accuracy_region.sel(checkpoint=10, region_name=["band_x", "intersection", "train"]),
                               [0.0, 1.0, 0.75])
    assert ds.accuracy_region.dims == ("checkpoint", "region_name")
    np.testing.assert_allclose(ds.accuracy_condition.sel(checkpoint=10), [1.0, 0.5, 0.0, 1.0])
    assert ds.phase_fraction.dims == ("checkpoint", "phase_name")
    np.testing.assert_allclose(ds.phase_fraction.sum("phase_name"), 1.0)
    np.testing.assert_allclose(ds.phase_fraction.sel(checkpoint=10, phase_name="C"), 5 / 8)
    np.testing.assert_allclose(ds.phase_fraction.sel(checkpoint=0).values, [0.5, 0.5, 0.0])
    no_ood = aggregate(constructed(c, [True] * 4, ["train"] * 4))
    assert np.isnan(no_ood.accuracy_ood.values).all()


class RenderModel:
    """Exact epsilon for data with one image per condition (x + shift, y), or a blank frame."""

    def __init__(self, dataset: SyntheticDataset, shift=0.0, blank=False):
        self.ds, self.shift, self.blank = dataset, shift, blank
        self.abar = SCHEDULE.alphas_cumprod

    def __call__(self, x_t, t, cond):
        c = cond.numpy().astype(np.float64)
        n = self.ds.image_size
        if self.blank:
            x0 = -np.ones((len(c), n, n), np.float32)
        else:
            fam = self.ds.components[0].family
            fams = np.where((c[:, 0] < 0) | (c[:, 0] > n - 1) | (c[:, 1] < 0) | (c[:, 1] > n - 1), "stripes", fam)
            fams = np.where(fams == "stripes", "sos", fams)
            x0 = np.empty((len(c), n, n), np.float32)
            for f in set(fams.tolist()):
                sel = fams == f
                x0[sel] = render(f, c[sel, 0] + self.shift, c[sel, 1], n, self.ds.sigma_x, self.ds.sigma_y)
        a = self.abar[t.numpy()].numpy().reshape(-1, 1, 1, 1)
        eps = (x_t.numpy() - np.sqrt(a) * x0[:, None]) / np.sqrt(1 - a)
        return torch.from_numpy(eps.astype(np.float32))


def dataset(**overrides):
    sets = ["data.image_size=16"] + [f"{k}={v}" for k, v in overrides.items()]
    return SyntheticDataset(load_config("quick", overrides=sets).data)


@pytest.mark.parametrize("family,holdout", [
    ("bump", "cross"), ("periodic", "interior"), ("sos", "cross"), ("stripes", "none"),
])
def test_an_exact_model_scores_perfectly(family, holdout):
    extra = {"data.holdout.kind": holdout, "data.holdout.width": 4}
    if family == "stripes":
        extra = {"data.margin": 3}
    data = dataset(**{"data.family": family, **extra})
    cond = select_conditions(data.conditions_dataset())
    if cond.sizes["condition"] > 120:  # keep the test fast: every region, a subset of each
        keep = np.concatenate([np.flatnonzero(cond.region.values == r)[::3] for r in data.regions])
        cond = cond.isel(condition=np.sort(keep))
    ds = evaluate_model(RenderModel(data), SCHEDULE, cond, image_size=16, steps=10, samples_per_condition=2,
                        progress=False)
    assert ds.correct.all(), ds.where(~ds.correct, drop=True)
    assert (ds.phase == "C").all()
    if family == "stripes":
        assert set(ds.scored_axes.values) == {"x", "y", "xy"}
    res = aggregate(ds)
    assert float(res.accuracy) == 1.0 and float(res.accuracy_ood) == 1.0
    assert set(res.region_name.values) == set(data.regions)


def test_wrong_place_is_phase_b_and_nothing_is_phase_a():
    data = dataset()
    cond = select_conditions(data.conditions_dataset()).isel(condition=slice(0, None, 9))
    shifted = evaluate_model(RenderModel(data, shift=1.6), SCHEDULE, cond, image_size=16, steps=10,
                             samples_per_condition=2, progress=False)
    inside = cond.x.values + 1.6 <= 15  # bumps pushed out of the frame are cut, still one bump
    assert (shifted.phase.values[inside] == "B").all()
    expected = np.broadcast_to((cond.x.values[inside] + 1.6)[:, None], (inside.sum(), 2))
    np.testing.assert_allclose(shifted.x_hat.values[inside], expected, atol=0.01)
    blank = evaluate_model(RenderModel(data, blank=True), SCHEDULE, cond, image_size=16, steps=10,
                           samples_per_condition=2, keep_images=True, progress=False)
    assert (blank.phase == "A").all() and (blank.n_bumps == 0).all()
    assert blank.image.dims == ("condition", "sample", "row", "col")
    assert float(blank.image.max()) == pytest.approx(-1.0, abs=1e-3)


def test_condition_sets_and_checkpoint_choice():
    conds = dataset(**{"data.holdout.kind": "interior", "data.holdout.width": 4}).conditions_dataset()
    assert select_conditions(conds, "train").in_train.all()
    held = select_conditions(conds, "heldout")
    assert (~held.in_train).all() and held.sizes["condition"] == 16
    assert (held.condition.values == np.flatnonzero(~conds.in_train.values)).all()
    with pytest.raises(ManifoldLensError, match="conditions = 'ood': must be one of all, train, heldout"):
        select_conditions(conds, "ood")
    assert select_checkpoints("last", [0, 5, 10], "run") == [10]
    assert select_checkpoints("all", [0, 5, 10], "run") == [0, 5, 10]
    assert select_checkpoints("10,0", [0, 5, 10], "run") == [0, 10]
    with pytest.raises(ManifoldLensError, match="available steps: 0, 5, 10"):
        select_checkpoints("7", [0, 5, 10], "run")
    with pytest.raises(ManifoldLensError, match="no committed checkpoint"):
        select_checkpoints("last", [], "run")


def test_default_names_keep_settings_apart():
    assert evaluation_name() == "ddim50"
    assert evaluation_name("ddpm", None, timesteps=1000) == "ddpm1000"
    assert evaluation_name("ddim", 20, eta=1.0, samples_per_condition=16, conditions="heldout") == \
        "ddim20_eta1_k16_heldout"
