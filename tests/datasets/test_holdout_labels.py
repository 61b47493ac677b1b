"""holdout_region: the hold-out geometry of every in-frame condition, for every family (stripes and mixtures too)."""

import numpy as np
import pytest

from manifold_lens.config import load_config
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.datasets.dataset import holdout_geometry

CROSS = ["data.holdout.kind=cross", "data.holdout.x_range=[6, 9]", "data.holdout.y_range=[6, 9]"]
# a 16 x 16 frame, the cross x or y in [6, 9]: 4 x 4 intersection, 4 x 12 in each band alone
CROSS_COUNTS = {"band_x": 48, "band_y": 48, "intersection": 16}


def ds_for(*overrides, size=16):
    return SyntheticDataset(load_config("quick", overrides=[f"data.image_size={size}", *overrides]).data)


def counts(labels, sel=None):
    labels = np.asarray(labels)[sel] if sel is not None else np.asarray(labels)
    return {r: int((labels == r).sum()) for r in sorted(set(labels.tolist())) if r != "none"}


def in_frame(d, n=16):
    return (d.x >= 0) & (d.x <= n - 1) & (d.y >= 0) & (d.y <= n - 1)


def test_sos_with_cross_region_and_holdout_region_agree():
    d = ds_for("data.family=sos", *CROSS)
    assert counts(d.region) == {**CROSS_COUNTS, "train": 144}
    held = d.region != "train"
    np.testing.assert_array_equal(d.holdout_region[held], d.region[held])
    assert (d.holdout_region[~held] == "none").all()


def test_stripes_in_frame_conditions_carry_the_cross():
    d = ds_for("data.family=stripes", "data.margin=3", *CROSS)
    frame = in_frame(d)
    assert (d.region[frame] == "frame_2d").all()  # the role is unchanged: never shown
    assert counts(d.holdout_region) == CROSS_COUNTS  # only in-frame conditions carry the geometry
    assert (d.holdout_region[~frame] == "none").all()
    # the hold-out removes no 1D example: the stripes still cover the whole range
    no_holdout = ds_for("data.family=stripes", "data.margin=3")
    np.testing.assert_array_equal(d.train, no_holdout.train)
    inter = d.holdout_region == "intersection"
    assert set(d.x[inter]) == {6, 7, 8, 9} and set(d.y[inter]) == {6, 7, 8, 9}


def test_mixture_stripes_and_sos_carry_the_same_cross_as_sos():
    mix = ds_for("data.family=mixture", "data.mix.sos=0.5", "data.mix.stripes=0.5", "data.margin=3", *CROSS)
    sos = ds_for("data.family=sos", *CROSS)
    frame = mix.family == "sos"
    assert frame.sum() == 256 and not (mix.region == "frame_2d").any()
    # the SOS conditions: held out by the cross, labelled like the SOS-only run, at the same (x, y)
    np.testing.assert_array_equal(mix.x[frame], sos.x)
    np.testing.assert_array_equal(mix.y[frame], sos.y)
    np.testing.assert_array_equal(mix.region[frame], sos.region)
    np.testing.assert_array_equal(mix.holdout_region[frame], sos.holdout_region)
    # the 1D stripes: all trained, no geometry label
    assert (mix.holdout_region[~frame] == "none").all() and mix.train[~frame].all()


@pytest.mark.parametrize("overrides, expected", [
    (["data.holdout.kind=interior", "data.holdout.width=4"], {"interior": 16}),
    (["data.holdout.kind=exterior", "data.holdout.width=3"], {"exterior": 9}),
    (["data.holdout.kind=band_x", "data.holdout.width=4"], {"band_x": 64}),
    ([], {}),
])
def test_stripes_other_holdouts(overrides, expected):
    d = ds_for("data.family=stripes", "data.margin=2", *overrides)
    assert counts(d.holdout_region) == expected
    bump = ds_for(*overrides)
    assert counts(bump.holdout_region) == expected  # the same geometry for a 2D family


def test_holdout_region_independent_of_subsampling():
    d = ds_for("data.keep_fraction=0.3", "data.holdout.kind=band_x", "data.holdout.width=2")
    assert counts(d.holdout_region) == {"band_x": 32}
    assert (d.holdout_region[d.region == "unsampled"] == "none").all()


def test_stored_and_derived_labels(tmp_path):
    """A store keeps holdout_region; conditions without it (older stores) get it from the config."""
    d = ds_for("data.family=stripes", "data.margin=3", *CROSS)
    cond = d.conditions_dataset()
    np.testing.assert_array_equal(cond["holdout_region"].values.astype(str), d.holdout_region)
    old = cond.drop_vars("holdout_region")
    restored = SyntheticDataset.from_store(d.config, old, d.train_dataset())
    np.testing.assert_array_equal(restored.holdout_region, d.holdout_region)
    again = SyntheticDataset.from_store(d.config, cond, d.train_dataset())
    np.testing.assert_array_equal(again.holdout_region, d.holdout_region)
    np.testing.assert_array_equal(holdout_geometry(d.config, d.x, d.y), d.holdout_region)
