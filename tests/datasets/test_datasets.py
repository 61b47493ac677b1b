import numpy as np
import pytest
import xarray as xr

from manifold_lens.config import load_config
from manifold_lens.datasets import (SyntheticDataset, bump_intensity, from_pixels, render, sos_intensity,
                                    to_pixels)
from manifold_lens.errors import ConfigError


def ds_for(*overrides, size=16):
    return SyntheticDataset(load_config("quick", overrides=[f"data.image_size={size}", *overrides]).data)


def test_bump_pixel_values():
    img = bump_intensity([3.0], [5.0], 8, 1.0)[0]
    assert img[5, 3] == 1.0  # peak at row y, column x
    assert img[5, 4] == pytest.approx(np.exp(-0.5))
    assert img[6, 3] == pytest.approx(np.exp(-0.5))
    assert img[7, 5] == pytest.approx(np.exp(-(4 + 4) / 2))


def test_anisotropic_bump():
    img = bump_intensity([4.0], [4.0], 8, sigma_x=2.0, sigma_y=0.5)[0]
    assert img[4, 6] == pytest.approx(np.exp(-4 / 8))
    assert img[5, 4] == pytest.approx(np.exp(-1 / 0.5))


def test_periodic_bump_wraps():
    img = bump_intensity([0.0], [0.0], 8, 1.0, periodic=True)[0]
    assert img[0, 7] == pytest.approx(np.exp(-0.5))  # distance 1 across the border
    assert img[7, 7] == pytest.approx(np.exp(-1.0))
    flat = bump_intensity([0.0], [0.0], 8, 1.0)[0]
    assert flat[0, 7] == pytest.approx(np.exp(-49 / 2))


def test_sos_adds_stripes():
    img = sos_intensity([2.0], [5.0], 8, 1.0)[0]
    assert img[5, 2] == pytest.approx(1.0)  # crossing
    assert img[0, 2] == pytest.approx(0.5 + 0.5 * np.exp(-25 / 2))  # vertical stripe
    assert img[5, 7] == pytest.approx(0.5 + 0.5 * np.exp(-25 / 2))  # horizontal stripe
    # an out-of-frame y leaves only the vertical stripe (a 1D example)
    one_d = sos_intensity([2.0], [-6.0], 8, 1.0)[0]
    assert one_d.max() == pytest.approx(0.5, abs=1e-6)
    assert one_d[:, 2].std() < 1e-6


def test_pixel_range():
    img = render("bump", [1.0], [2.0], 8, 1.0, 1.0)
    assert img.dtype == np.float32 and img.min() >= -1 and img.max() == 1.0
    np.testing.assert_allclose(from_pixels(to_pixels(np.array([0.0, 0.25, 1.0]))), [0.0, 0.25, 1.0])


def test_lattice_and_full_training_set():
    d = ds_for()
    assert d.n_conditions == 256 and len(d) == 256
    assert set(d.x) == set(range(16)) and d.regions == ["train"]
    d2 = ds_for("data.spacing=2")
    assert d2.n_conditions == 64
    d3 = ds_for("data.spacing_x=3", "data.spacing_y=1")
    assert d3.n_conditions == 6 * 16


@pytest.mark.parametrize("overrides, counts", [
    (["data.holdout.kind=band_x", "data.holdout.width=4"], {"band_x": 64, "train": 192}),
    (["data.holdout.kind=band_y", "data.holdout.y_range=[2, 3]"], {"band_y": 32, "train": 224}),
    (["data.holdout.kind=cross", "data.holdout.x_range=[6, 9]", "data.holdout.y_range=[6, 9]"],
     {"band_x": 48, "band_y": 48, "intersection": 16, "train": 144}),
    (["data.holdout.kind=interior", "data.holdout.width=4"], {"interior": 16, "train": 240}),
    (["data.holdout.kind=exterior", "data.holdout.width=3"], {"exterior": 9, "train": 247}),
    (["data.holdout.kind=exterior", "data.holdout.width=4", "data.holdout.position=edge"],
     {"exterior": 16, "train": 240}),
    (["data.holdout.kind=donut", "data.holdout.width=2", "data.holdout.ring=3"],
     {"donut_hole": 4, "train": 64 - 4, "beyond": 256 - 64}),
    (["data.holdout.kind=list", "data.holdout.points=[[1, 2], [3, 4]]"], {"listed": 2, "train": 254}),
])
def test_holdout_regions(overrides, counts):
    d = ds_for(*overrides)
    got = {r: int((d.region == r).sum()) for r in d.regions}
    assert got == counts
    assert d.train.sum() == counts["train"]


def test_holdout_positions():
    d = ds_for("data.holdout.kind=interior", "data.holdout.width=4")
    held = d.region == "interior"
    assert set(d.x[held]) == {6, 7, 8, 9} and set(d.y[held]) == {6, 7, 8, 9}
    d = ds_for("data.holdout.kind=exterior", "data.holdout.width=3")
    held = d.region == "exterior"
    assert set(d.x[held]) == {0, 1, 2} and set(d.y[held]) == {0, 1, 2}
    d = ds_for("data.holdout.kind=cross", "data.holdout.x_range=[6, 9]", "data.holdout.y_range=[6, 9]")
    inter = d.region == "intersection"
    assert set(d.x[inter]) == {6, 7, 8, 9} and set(d.y[inter]) == {6, 7, 8, 9}


def test_holdout_leaving_no_training_data():
    with pytest.raises(ConfigError, match="no training data"):
        ds_for("data.holdout.kind=interior", "data.holdout.width=16")


def test_listed_point_must_be_on_lattice():
    with pytest.raises(ConfigError, match="not a lattice condition"):
        ds_for("data.holdout.kind=list", "data.holdout.points=[[1.5, 2]]")


def test_subsampling_fraction_and_determinism():
    a = ds_for("data.keep_fraction=0.3", "data.seed=1")
    b = ds_for("data.keep_fraction=0.3", "data.seed=1")
    c = ds_for("data.keep_fraction=0.3", "data.seed=2")
    assert len(a) == round(0.3 * 256)
    assert (a.region == "unsampled").sum() == 256 - len(a)
    np.testing.assert_array_equal(a.train, b.train)
    assert not np.array_equal(a.train, c.train)
    # hold-outs are applied before subsampling: only trainable sites are subsampled
    h = ds_for("data.keep_fraction=0.5", "data.holdout.kind=interior", "data.holdout.width=4")
    assert len(h) == 120 and (h.region == "interior").sum() == 16


def test_rendering_is_deterministic_and_matches_conditions():
    d = ds_for("data.family=sos")
    imgs = d.render_conditions([0, 17])
    np.testing.assert_array_equal(imgs, d.render_conditions([0, 17]))
    np.testing.assert_allclose(imgs[1], render("sos", [d.x[17]], [d.y[17]], 16, 1.0, 1.0)[0])


def test_stripes_canvas_rim_and_frame():
    d = ds_for("data.family=stripes", "data.margin=3", "data.rim=1", size=8)
    # canvas 14 x 14 minus the four 3x3 corners
    assert d.n_conditions == 14 * 14 - 4 * 9
    assert (d.region == "frame_2d").sum() == 64
    assert len(d) == 14 * 14 - 4 * 9 - 64
    no_rim = ds_for("data.family=stripes", "data.margin=3", "data.rim=1", "data.include_rim=false", size=8)
    assert (no_rim.region == "rim").sum() == 4 * 8  # one rim row/column on each side
    rim_sel = no_rim.region == "rim"
    out = np.where((no_rim.x[rim_sel] >= 0) & (no_rim.x[rim_sel] <= 7), no_rim.y[rim_sel], no_rim.x[rim_sel])
    assert set(out) == {-1.0, 8.0}


def test_mixture_weights_and_conditions():
    d = ds_for("data.family=mixture", "data.mix.bump=3", "data.mix.stripes=1", "data.margin=2", size=8)
    bump = d.family == "bump"
    assert bump.sum() == 64 and ((d.x[bump] >= 0) & (d.x[bump] <= 7)).all()
    assert d.weight[bump].sum() == pytest.approx(0.75)
    assert d.weight[d.family == "stripes"].sum() == pytest.approx(0.25)
    with pytest.raises(ConfigError, match="at most one of bump/periodic/sos"):
        load_config("quick", overrides=["data.family=mixture", "data.mix.bump=1", "data.mix.sos=1"])


def test_xarray_views():
    d = ds_for("data.holdout.kind=band_x", "data.holdout.width=2", size=8)
    cond = d.conditions_dataset()
    assert cond.sizes == {"condition": 64}
    assert int(cond.in_train.sum()) == len(d)
    tr = d.train_dataset()
    assert tr.image.shape == (len(d), 8, 8)
    np.testing.assert_array_equal(tr.x.values, d.x[d.train])
    assert float(tr.weight.sum()) == pytest.approx(1.0)
    assert isinstance(tr, xr.Dataset)


def test_from_config_builds_the_dataset_and_build_dataset_is_its_deprecated_alias():
    from manifold_lens.datasets import build_dataset

    cfg = load_config("quick", overrides=["data.image_size=8", "data.keep_fraction=0.5"])
    built = SyntheticDataset.from_config(cfg)
    assert built.image_size == 8 and len(built) == 32  # round(0.5 x 64) kept sites
    with pytest.warns(DeprecationWarning, match=r"SyntheticDataset.from_config"):
        old = build_dataset(cfg.data)
    assert (old.train_index == built.train_index).all()


def test_render_takes_image_size_and_the_former_n_with_a_warning():
    img = render("bump", [3.0], [5.0], image_size=8, sigma_x=1.0, sigma_y=1.0)
    assert img.shape == (1, 8, 8) and img[0, 5, 3] == pytest.approx(1.0)
    with pytest.warns(DeprecationWarning, match="image_size="):
        old = bump_intensity([3.0], [5.0], n=8)
    assert old.shape == (1, 8, 8) and np.allclose(from_pixels(img), old, atol=1e-6)
